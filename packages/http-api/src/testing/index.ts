export { type ReceivedEvent, SseReader } from './sse-reader.ts';
