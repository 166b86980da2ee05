export { Reader, WireError } from './reader.js';
export { Writer } from './writer.js';
export * from './addr.js';
