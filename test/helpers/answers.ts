// The daemon's JSON answers as the tests read them (FastNetMon's envelope: success and
// error_text, then values, object or one item's fields); only the fields tests read.

/** One mitigation, or one item of a bulk PUT/DELETE answer (refused items carry error_text). */
export interface ItemAnswer {
  readonly success: boolean;
  readonly error_text: string;
  readonly uuid: string;
  readonly ip: string;
}

export interface ListAnswer<T = ItemAnswer> {
  readonly success: boolean;
  readonly error_text: string;
  readonly values: T[];
}
