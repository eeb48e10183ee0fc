export { type CycleReplayOptions, divergenceOf, replayCycle } from './cycle-replay.ts';
export { InferenceRecorder, type InferenceRecorderOptions, schemaText, sha256Hex } from './inference-recorder.ts';
export { type ProvenanceOptions, provenanceOf } from './provenance-tree.ts';
