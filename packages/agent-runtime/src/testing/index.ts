export {
  phaseOfSchema,
  type RecordedCall,
  type ScriptedAnswer,
  ScriptedInference,
  say,
} from './scripted-inference.ts';
