// csv_cells.mjs: print a CSV file (RFC 4180; a BOM, CRLF or LF) as a JSON
// array of records, each an array of cells, so that tests can compare two
// CSVs cell by cell with jq.  Usage: node csv_cells.mjs FILE
import { readFileSync } from 'node:fs';

let text = readFileSync(process.argv[2], 'utf8');
if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
const rows = [];
let row = [], cell = '', i = 0, quoted = false;
while (i < text.length) {
	const c = text[i];
	if (quoted) {
		if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 2; continue; }
		if (c === '"') { quoted = false; i++; continue; }
		cell += c; i++; continue;
	}
	if (c === '"') { quoted = true; i++; continue; }
	if (c === ',') { row.push(cell); cell = ''; i++; continue; }
	if (c === '\r' || c === '\n') {
		row.push(cell); rows.push(row); row = []; cell = '';
		i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
		continue;
	}
	cell += c; i++;
}
if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
console.log(JSON.stringify(rows));
