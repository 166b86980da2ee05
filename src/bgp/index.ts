/**
 * The BGP room: the embedded speaker that peers with the edge routers. Three layers, data
 * flowing down:
 *  - desired routes: route.ts builds every DesiredRoute (attributes parsed once),
 *    static.ts from config, desired.ts keeps the set by RIB key for the speaker;
 *  - sessions: fsm.ts is the pure RFC 4271 §8 state machine (`step`), session.ts and
 *    peer.ts its TCP shell, ribout.ts the per-peer Adj-RIB-Out diff and UPDATE packing,
 *    sockopt.ts TCP MD5 / GTSM through the native addon, speaker.ts ties them together,
 *    learned.ts reads networks_from_bgp;
 *  - codec: codec.ts (messages), attrs.ts, update.ts (RFC 7606), nlri.ts, capabilities.ts,
 *    notify.ts and constants.ts; pure functions over src/wire's bounded Reader / Writer.
 * Other rooms use what this index exports (the daemon, the demo receiver, tests).
 */
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
