// node tests/shared/check_segments.js: rapidresponse/static/segments.js against the shared table.
// Prints one JSON line: {"failures": [...], "checked": N, "basic": "...", "extension": "..."}.
'use strict';
const fs = require('fs');
const path = require('path');
const seg = require(path.join(__dirname, '..', '..', 'rapidresponse', 'static', 'segments.js'));
const table = JSON.parse(fs.readFileSync(path.join(__dirname, 'segments.json'), 'utf8'));
const failures = [];
for (const c of table.cases) {
  const text = c.parts.map(([s, n]) => s.repeat(n)).join('');
  const got = { encoding: seg.encoding(text), segments: seg.segments(text) };
  if (got.encoding !== c.encoding || got.segments !== c.segments) failures.push({ note: c.note, got });
}
console.log(JSON.stringify({
  failures, checked: table.cases.length,
  basic: Array.from(seg.BASIC).sort().join(''), extension: Array.from(seg.EXTENSION).sort().join(''),
}));
