/**
 * NOTIFICATION codes and subcodes (RFC 4271 §4.5 and §6, RFC 4486, RFC 5492, RFC 6608,
 * RFC 7313, RFC 8203/9003) and their words for logs, plus BgpError: a protocol error that
 * knows which NOTIFICATION it deserves.
 */

export const ERR_HEADER = 1;
export const ERR_OPEN = 2;
export const ERR_UPDATE = 3;
export const ERR_HOLD = 4;
export const ERR_FSM = 5;
export const ERR_CEASE = 6;
export const ERR_ROUTE_REFRESH = 7;

// Message Header Error subcodes
export const HDR_NOT_SYNC = 1;
export const HDR_BAD_LENGTH = 2;
export const HDR_BAD_TYPE = 3;
// OPEN Message Error subcodes
export const OPEN_BAD_VERSION = 1;
export const OPEN_BAD_PEER_AS = 2;
export const OPEN_BAD_BGP_ID = 3;
export const OPEN_UNSUPPORTED_PARAM = 4;
export const OPEN_BAD_HOLD_TIME = 6;
export const OPEN_UNSUPPORTED_CAPABILITY = 7;
// UPDATE Message Error subcodes
export const UPD_MALFORMED_ATTR_LIST = 1;
export const UPD_UNRECOGNIZED_WELL_KNOWN = 2;
export const UPD_MISSING_WELL_KNOWN = 3;
export const UPD_ATTR_FLAGS = 4;
export const UPD_OPTIONAL_ATTR = 9;
export const UPD_INVALID_NETWORK = 10;
// Cease subcodes (RFC 4486)
export const CEASE_ADMIN_SHUTDOWN = 2;
export const CEASE_PEER_DECONFIGURED = 3;
export const CEASE_CONNECTION_REJECTED = 5;
export const CEASE_OTHER_CONFIG_CHANGE = 6;
export const CEASE_COLLISION = 7;

const CODES: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
};

const SUBCODES: Record<number, Record<number, string>> = {
  1: { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' },
  2: {
    1: 'Unsupported Version Number',
    2: 'Bad Peer AS',
    3: 'Bad BGP Identifier',
    4: 'Unsupported Optional Parameter',
    6: 'Unacceptable Hold Time',
    7: 'Unsupported Capability',
    11: 'Role Mismatch',
  },
  3: {
    1: 'Malformed Attribute List',
    2: 'Unrecognized Well-known Attribute',
    3: 'Missing Well-known Attribute',
    4: 'Attribute Flags Error',
    5: 'Attribute Length Error',
    6: 'Invalid ORIGIN Attribute',
    8: 'Invalid NEXT_HOP Attribute',
    9: 'Optional Attribute Error',
    10: 'Invalid Network Field',
    11: 'Malformed AS_PATH',
  },
  5: {
    1: 'Receive Unexpected Message in OpenSent State',
    2: 'Receive Unexpected Message in OpenConfirm State',
    3: 'Receive Unexpected Message in Established State',
  },
  6: {
    1: 'Maximum Number of Prefixes Reached',
    2: 'Administrative Shutdown',
    3: 'Peer De-configured',
    4: 'Administrative Reset',
    5: 'Connection Rejected',
    6: 'Other Configuration Change',
    7: 'Connection Collision Resolution',
    8: 'Out of Resources',
    9: 'Hard Reset',
    10: 'BFD Down',
  },
  7: { 1: 'Invalid Message Length' },
};

/** "Cease / Administrative Shutdown" style words for a code/subcode pair. */
function notificationWords(code: number, subcode: number): string {
  const c = CODES[code] ?? `code ${code}`;
  const s = SUBCODES[code]?.[subcode];
  if (s) return `${c} / ${s}`;
  return subcode === 0 ? c : `${c} / subcode ${subcode}`;
}

/**
 * Full text of a NOTIFICATION for logs and the API: words, then the shutdown communication
 * (RFC 9003: one length octet and UTF-8 for Cease subcodes 2 and 4) or the data in hex.
 */
export function notificationText(code: number, subcode: number, data: Uint8Array): string {
  const words = notificationWords(code, subcode);
  if (data.length === 0) return `${words} (${code}/${subcode})`;
  if (code === ERR_CEASE && (subcode === 2 || subcode === 4) && data[0]! + 1 === data.length) {
    const msg = new TextDecoder('utf-8', { fatal: false }).decode(data.subarray(1));
    return `${words} (${code}/${subcode}): "${[...msg].map((ch) => (ch < ' ' || ch === '\x7f' ? '?' : ch)).join('')}"`;
  }
  const hex = Buffer.from(data.subarray(0, 64)).toString('hex');
  return `${words} (${code}/${subcode}) data ${hex}${data.length > 64 ? '…' : ''}`;
}

/** A protocol error that must be answered with NOTIFICATION code/subcode and data. */
export class BgpError extends Error {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  constructor(code: number, subcode: number, message: string, data: Uint8Array = new Uint8Array(0)) {
    super(`${message} [${notificationWords(code, subcode)}]`);
    this.name = 'BgpError';
    this.code = code;
    this.subcode = subcode;
    this.data = data;
  }
}
