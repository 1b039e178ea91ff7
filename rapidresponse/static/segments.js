// SMS segments, counted exactly as rapidresponse/messaging/segments.py counts them (GSM 03.38):
// GSM-7 when every character is in the basic or extension table (extension characters take two
// septets), else UCS-2 (characters beyond U+FFFF take two code units); 160/153 septets or 70/67
// code units per segment, a part never ending inside an escape or surrogate pair.
// tests/shared/segments.json is the one table of cases both this file and the Python module are
// checked against (tests/unit/test_segment_table.py runs it here with node, and in the browser).
(function (root) {
  'use strict';
  const BASIC = new Set(Array.from(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'));
  const EXTENSION = new Set(Array.from('\f^{}\\[~]|€'));
  const GSM7_SINGLE = 160, GSM7_PART = 153, UCS2_SINGLE = 70, UCS2_PART = 67;

  function encoding(text) {
    for (const ch of text) {
      if (!BASIC.has(ch) && !EXTENSION.has(ch)) return 'UCS-2';
    }
    return 'GSM-7';
  }

  function units(text, enc) {
    const sizes = [];
    for (const ch of text) {  // code points, as Python iterates a str
      if (enc === 'GSM-7') sizes.push(EXTENSION.has(ch) ? 2 : 1);
      else sizes.push(ch.codePointAt(0) > 0xFFFF ? 2 : 1);
    }
    return sizes;
  }

  function segments(text) {
    const enc = encoding(text);
    const sizes = units(text, enc);
    const single = enc === 'GSM-7' ? GSM7_SINGLE : UCS2_SINGLE;
    const part = enc === 'GSM-7' ? GSM7_PART : UCS2_PART;
    if (sizes.reduce((a, b) => a + b, 0) <= single) return 1;
    let count = 1, used = 0;
    for (const size of sizes) {
      if (used + size > part) { count += 1; used = 0; }
      used += size;
    }
    return count;
  }

  // Characters, as the confirmation page counts them (code points, like Python's len).
  function length(text) { return Array.from(text).length; }

  const api = { encoding, segments, length, BASIC, EXTENSION };
  root.RRSegments = api;
  if (typeof module !== 'undefined' && module.exports) module.exports = api;
})(typeof globalThis !== 'undefined' ? globalThis : this);
