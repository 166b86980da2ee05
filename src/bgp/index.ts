/** Public surface of the embedded BGP speaker. */
export type { DesiredRoute, RouteSource, PeerStateName, PeerStatus, Speaker } from './types.js';
export { createSpeaker, listenAddresses, type EmbeddedSpeaker, type SpeakerOptions } from './speaker.js';
export { staticRoutesToDesired, staticRouteToDesired } from './static.js';
export {
  decodeMessage,
  encodeMessage,
  encodeOpen,
  encodeKeepalive,
  encodeNotification,
  encodeRouteRefresh,
  encodeUpdate,
  readHeader,
  openCapabilities,
  type BgpMessage,
  type OpenMessage,
  type UpdateMessage,
  type NotificationMessage,
  type RouteRefreshMessage,
  type KeepaliveMessage,
  type Capability,
  type CodecContext,
} from './codec.js';
export type { PathAttribute } from './attrs.js';
export { communityText, largeCommunityText, parseCommunity, parseLargeCommunity } from './attrs.js';
export { endOfRib, updateCounts, type UpdateIssue } from './update.js';
export { buildCapabilities, parseCapabilities, negotiate } from './capabilities.js';
export {
  step,
  initialState,
  validateOpen,
  collisionLoser,
  backoffMs,
  type FsmConfig,
  type FsmState,
  type FsmEvent,
  type Effect,
} from './fsm.js';
export { AdjRibOut, packAnnouncements, packWithdrawals, endOfRibMessage, selectForPeer } from './ribout.js';
export { BgpError, notificationText, notificationWords } from './notify.js';
export { familyOf, familyCode } from './constants.js';
