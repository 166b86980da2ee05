/**
 * UPDATE body (RFC 4271 §4.3) with RFC 7606 error handling of received UPDATEs:
 *  - session reset (thrown BgpError): bad Withdrawn Routes / Total Path Attribute lengths,
 *    malformed NLRI or withdrawn prefixes, unparseable or repeated MP_REACH/MP_UNREACH,
 *    unrecognized well-known attributes (RFC 4271 §6.3);
 *  - treat-as-withdraw / attribute-discard (returned as `issues`, the session goes on).
 * Every issue and error carries the NOTIFICATION code/subcode it corresponds to.
 */
import type { Reader } from '../wire/reader.js';
import type { Writer } from '../wire/writer.js';
import type { Prefix } from '../wire/addr.js';
import * as C from './constants.js';
import {
  BgpError,
  ERR_UPDATE,
  UPD_ATTR_FLAGS,
  UPD_INVALID_NETWORK,
  UPD_MALFORMED_ATTR_LIST,
  UPD_MISSING_WELL_KNOWN,
  UPD_OPTIONAL_ATTR,
  UPD_UNRECOGNIZED_WELL_KNOWN,
} from './notify.js';
import {
  AttrError,
  decodeAttribute,
  STD_FLAGS,
  writeAttribute,
  type AttrContext,
  type PathAttribute,
} from './attrs.js';
import { decodePrefixes, writePrefix } from './nlri.js';
import { decodeNlri } from '../flowspec/codec.js';

export interface UpdateIssue {
  readonly action: 'treat-as-withdraw' | 'attribute-discard';
  readonly code: number;
  readonly subcode: number;
  /** Attribute type concerned (0 when the attribute list itself). */
  readonly attr: number;
  readonly reason: string;
}

export interface UpdateMessage {
  readonly type: 'update';
  readonly withdrawn: readonly Prefix[];
  readonly attributes: readonly PathAttribute[];
  readonly nlri: readonly Prefix[];
  /** RFC 7606 findings on a received UPDATE (absent or empty when clean). */
  readonly issues?: readonly UpdateIssue[];
}

export function decodeUpdateBody(r: Reader, ctx: AttrContext): UpdateMessage {
  if (r.remaining < 4)
    throw new BgpError(ERR_UPDATE, UPD_MALFORMED_ATTR_LIST, 'UPDATE shorter than its length fields');
  const wLen = r.u16();
  if (wLen > r.remaining - 2)
    throw new BgpError(
      ERR_UPDATE,
      UPD_MALFORMED_ATTR_LIST,
      `Withdrawn Routes Length ${wLen} overruns the UPDATE`,
    );
  const withdrawn = decodePrefixes(r.sub(wLen), 4, UPD_INVALID_NETWORK, 'withdrawn routes');
  const aLen = r.u16();
  if (aLen > r.remaining)
    throw new BgpError(
      ERR_UPDATE,
      UPD_MALFORMED_ATTR_LIST,
      `Total Path Attribute Length ${aLen} overruns the UPDATE`,
    );
  const ar = r.sub(aLen);
  const nlri = decodePrefixes(r, 4, UPD_INVALID_NETWORK, 'NLRI');

  const attributes: PathAttribute[] = [];
  const issues: UpdateIssue[] = [];
  const seen = new Set<number>();
  while (!ar.atEnd()) {
    if (ar.remaining < 3) {
      issues.push({
        action: 'treat-as-withdraw',
        code: ERR_UPDATE,
        subcode: UPD_MALFORMED_ATTR_LIST,
        attr: 0,
        reason: 'truncated attribute header',
      });
      break;
    }
    const flags = ar.u8();
    const code = ar.u8();
    const ext = (flags & C.FLAG_EXTENDED) !== 0;
    if (ext && ar.remaining < 2) {
      issues.push({
        action: 'treat-as-withdraw',
        code: ERR_UPDATE,
        subcode: UPD_MALFORMED_ATTR_LIST,
        attr: code,
        reason: 'truncated attribute length',
      });
      break;
    }
    const len = ext ? ar.u16() : ar.u8();
    if (len > ar.remaining) {
      // RFC 7606 §4: an attribute overrunning the list; MP attributes cannot be trusted then.
      if (code === C.ATTR_MP_REACH || code === C.ATTR_MP_UNREACH) {
        throw new BgpError(
          ERR_UPDATE,
          UPD_MALFORMED_ATTR_LIST,
          `attribute ${code} of ${len} bytes overruns the attribute list`,
        );
      }
      issues.push({
        action: 'treat-as-withdraw',
        code: ERR_UPDATE,
        subcode: UPD_MALFORMED_ATTR_LIST,
        attr: code,
        reason: `attribute ${code} of ${len} bytes overruns the attribute list`,
      });
      break;
    }
    const value = ar.bytes(len);
    const isMp = code === C.ATTR_MP_REACH || code === C.ATTR_MP_UNREACH;
    if (seen.has(code)) {
      // RFC 7606 §3.g: repeated MP attributes reset the session; others: keep the first.
      if (isMp) throw new BgpError(ERR_UPDATE, UPD_MALFORMED_ATTR_LIST, `attribute ${code} appears twice`);
      issues.push({
        action: 'attribute-discard',
        code: ERR_UPDATE,
        subcode: UPD_MALFORMED_ATTR_LIST,
        attr: code,
        reason: `attribute ${code} repeated`,
      });
      continue;
    }
    seen.add(code);
    const std = STD_FLAGS[code];
    if (std === undefined && (flags & C.FLAG_OPTIONAL) === 0) {
      // RFC 4271 §6.3: unrecognized well-known attribute; data is the attribute.
      const data = new Uint8Array(len + (ext ? 4 : 3));
      data.set([flags, code], 0);
      if (ext) data.set([len >> 8, len & 0xff], 2);
      else data[2] = len;
      data.set(value, ext ? 4 : 3);
      throw new BgpError(
        ERR_UPDATE,
        UPD_UNRECOGNIZED_WELL_KNOWN,
        `unrecognized well-known attribute ${code}`,
        data,
      );
    }
    if (std !== undefined && (flags & (C.FLAG_OPTIONAL | C.FLAG_TRANSITIVE)) !== std) {
      if (isMp)
        throw new BgpError(ERR_UPDATE, UPD_ATTR_FLAGS, `attribute ${code} flags 0x${flags.toString(16)}`);
      // RFC 7606 §3.c: conflicting Optional/Transitive bits make the attribute malformed.
      issues.push({
        action: 'treat-as-withdraw',
        code: ERR_UPDATE,
        subcode: UPD_ATTR_FLAGS,
        attr: code,
        reason: `attribute ${code} flags 0x${flags.toString(16)}`,
      });
      attributes.push({ kind: 'raw', flags, code, value: Uint8Array.from(value) });
      continue;
    }
    try {
      attributes.push(decodeAttribute(flags, code, value, ctx));
    } catch (e) {
      if (!(e instanceof AttrError)) throw e;
      issues.push({ action: e.action, code: e.code, subcode: e.subcode, attr: code, reason: e.message });
      attributes.push({ kind: 'raw', flags, code, value: Uint8Array.from(value) });
    }
  }

  // RFC 7606 §3.d: missing well-known mandatory attributes when NLRI are present.
  const mpReach = attributes.some(
    (a) => a.kind === 'mp_reach' && (a.nlri.length > 0 || a.flowspec.length > 0),
  );
  if (nlri.length > 0 || mpReach) {
    const need = [C.ATTR_ORIGIN, C.ATTR_AS_PATH];
    if (nlri.length > 0) need.push(C.ATTR_NEXT_HOP);
    for (const code of need) {
      if (!seen.has(code)) {
        issues.push({
          action: 'treat-as-withdraw',
          code: ERR_UPDATE,
          subcode: UPD_MISSING_WELL_KNOWN,
          attr: code,
          reason: `missing well-known attribute ${code}`,
        });
      }
    }
  }
  return issues.length
    ? { type: 'update', withdrawn, attributes, nlri, issues }
    : { type: 'update', withdrawn, attributes, nlri };
}

export function writeUpdateBody(w: Writer, m: UpdateMessage, ctx: AttrContext): void {
  const wAt = w.placeholder(2);
  for (const p of m.withdrawn) writePrefix(w, p);
  w.fillLength(wAt, 2);
  const aAt = w.placeholder(2);
  for (const a of m.attributes) writeAttribute(w, a, ctx);
  w.fillLength(aAt, 2);
  for (const p of m.nlri) writePrefix(w, p);
}

/** True when the UPDATE is an End-of-RIB marker (RFC 4724 §2); returns its AFI/SAFI. */
export function endOfRib(m: UpdateMessage): C.AfiSafi | null {
  if (m.withdrawn.length || m.nlri.length) return null;
  if (m.attributes.length === 0) return { afi: C.AFI_IPV4, safi: C.SAFI_UNICAST };
  if (m.attributes.length === 1) {
    const a = m.attributes[0]!;
    if (a.kind === 'mp_unreach' && a.withdrawn.length === 0 && a.flowspec.length === 0 && !a.raw?.length)
      return { afi: a.afi, safi: a.safi };
  }
  return null;
}

/**
 * RFC 8955 §4.2 / RFC 8956 §3 on a received UPDATE: each FlowSpec NLRI must decode (known
 * component types for its family, strictly increasing type order, prefix lengths within
 * the family, operator value lengths inside the NLRI, an end-of-list bit). The NLRI
 * length prefix still delimits the others, so no session reset is needed: a malformed
 * NLRI is discarded (RFC 7606 §5.4, typed NLRI) and, since RFC 8955 §10 defers to RFC
 * 7606, the UPDATE is treat-as-withdraw (RFC 7606 §2): the stricter reading, which keeps
 * no rule of an UPDATE we could not fully parse. Kept out of decodeUpdateBody, which
 * frames NLRI without judging their contents.
 */
export function checkFlowspecNlri(m: UpdateMessage): UpdateMessage {
  const found: UpdateIssue[] = [];
  let changed = false;
  const attributes = m.attributes.map((a): PathAttribute => {
    if ((a.kind !== 'mp_reach' && a.kind !== 'mp_unreach') || a.flowspec.length === 0) return a;
    const family = a.afi === C.AFI_IPV4 ? 4 : 6;
    const good = a.flowspec.filter((f) => {
      try {
        decodeNlri(f, family);
        return true;
      } catch (e) {
        const hex = Buffer.from(f).toString('hex');
        const shown = hex.length > 64 ? `${hex.slice(0, 64)}…` : hex;
        found.push({
          action: 'treat-as-withdraw',
          code: ERR_UPDATE,
          subcode: UPD_OPTIONAL_ATTR,
          attr: a.code,
          reason: `malformed IPv${family} FlowSpec NLRI ${shown}: ${(e as Error).message}`,
        });
        return false;
      }
    });
    if (good.length === a.flowspec.length) return a;
    changed = true;
    return { ...a, flowspec: good };
  });
  return changed ? { ...m, attributes, issues: [...(m.issues ?? []), ...found] } : m;
}
