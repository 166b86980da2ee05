/** Public surface of the embedded BGP speaker. */
export { createSpeaker, type EmbeddedSpeaker } from './speaker.js';
export { staticRoutesToDesired } from './static.js';
export {
  decodeMessage,
  encodeOpen,
  encodeKeepalive,
  readHeader,
  type BgpMessage,
} from './codec.js';
export { communityText, largeCommunityText } from './attrs.js';
export { buildCapabilities } from './capabilities.js';
