// review_page.mjs: drives the review page (skugen export --format html) in
// Debian's headless Chromium through playwright-core, for
// tests/integration/review.sh and bench/review.
//
//   node review_page.mjs check PAGE OUTDIR [N]
//     loads PAGE, scrolls until every card is rendered, approves the first N
//     cards (default 2) with the keyboard (focus the first card, press "a" N
//     times), edits the next card's first text when EDIT_TEXT is set ("e",
//     the text, Ctrl+Enter), clicks "Save decisions",
//     and writes OUTDIR/decisions.json (the download), OUTDIR/review.png (a
//     screenshot) and prints a JSON report: console errors, page errors,
//     dialogs, cards, scripts, control marks, first-card time...
//   node review_page.mjs first-render PAGE
//     prints {"first_card_ms": ..., "cards": ...}: navigation start to the
//     first cards painted (the page's own marker), and later the time until
//     every data block was parsed.
//
// CHROMIUM overrides /usr/bin/chromium.  Exit 2 when the browser cannot start.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function open() {
	const profile = mkdtempSync(join(tmpdir(), 'skugen-chromium-'));
	let context;
	try {
		context = await chromium.launchPersistentContext(profile, {
			executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
			headless: true, args: FLAGS, acceptDownloads: true,
			viewport: { width: 1280, height: 900 },
		});
	} catch (err) {
		rmSync(profile, { recursive: true, force: true });
		console.error(`cannot start chromium: ${err.message.split('\n')[0]}`);
		process.exit(2);
	}
	return { context, profile };
}

async function close({ context, profile }) {
	await context.close();
	rmSync(profile, { recursive: true, force: true });
}

async function check(pagePath, outDir, n) {
	const b = await open();
	const page = b.context.pages()[0] || await b.context.newPage();
	const report = { console_errors: [], page_errors: [], dialogs: [], requests: [] };
	page.on('console', (m) => { if (m.type() === 'error') report.console_errors.push(m.text()); });
	page.on('pageerror', (e) => report.page_errors.push(String(e)));
	page.on('dialog', async (d) => { report.dialogs.push(d.message()); await d.dismiss(); });
	page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('blob:')) report.requests.push(r.url()); });
	await page.goto(pathToFileURL(resolve(pagePath)).href);
	await page.waitForSelector('body[data-loaded="1"]', { timeout: 30000 });
	await page.waitForFunction(() => window.skugenFirstCard !== undefined, null, { timeout: 30000 });
	report.first_card_ms = await page.evaluate(() => window.skugenFirstCard);
	// The cards render 50 at a time as the reader scrolls: scroll to the end.
	for (let last = -1, same = 0; same < 3;) {
		const count = await page.locator('article.card').count();
		same = count === last ? same + 1 : 0;
		last = count;
		await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
		await page.waitForTimeout(50);
	}
	await page.evaluate(() => window.scrollTo(0, 0));
	report.cards = await page.locator('article.card').count();
	report.card_skus = await page.locator('article.card h2').allTextContents();
	report.generations = await page.locator('section.gen').count();
	report.scripts = await page.locator('script').count();
	report.data_blocks = await page.locator('script.skugen-data').count();
	report.control_marks = await page.locator('.ctl').allTextContents();
	report.del = await page.locator('.cur del').count();
	report.ins = await page.locator('.new ins').count();
	report.checks_ok = await page.locator('.checks li.ok').count();
	report.checks_failed = await page.locator('.checks li.fail').count();
	report.no_checks = await page.locator('.nochecks').count();
	report.thumbnails = await page.locator('.thumb img, .thumb video').count();
	report.thumbnails_loaded = await page.evaluate(() =>
		Array.from(document.querySelectorAll('.thumb img')).filter((i) => i.complete && i.naturalWidth > 0).length);
	report.pwned = await page.evaluate(() => window.pwned === true);
	report.text = await page.locator('#cards').innerText();
	report.category_options = await page.locator('#f-category option').allTextContents();
	report.output_options = await page.locator('#f-output option').allTextContents();
	report.status_options = await page.locator('#f-status option').allTextContents();

	// The keyboard: focus the first card, approve n cards; the page moves
	// the focus on after each.
	await page.locator('article.card').first().focus();
	for (let i = 0; i < n; i++) await page.keyboard.press('a');
	report.focused_card = await page.evaluate(() => {
		const a = document.activeElement;
		return a && a.matches('article.card') ? a.querySelector('h2').textContent : null;
	});
	report.decided_cards = await page.locator('article.card.decided').count();
	// The next card: "e" opens the editor on its first text, Ctrl+Enter saves.
	if (process.env.EDIT_TEXT) {
		await page.keyboard.press('e');
		await page.keyboard.press('Control+A');
		await page.keyboard.insertText(process.env.EDIT_TEXT);
		await page.keyboard.press('Control+Enter');
		report.edited = await page.locator('section.gen.d-edit').count();
	}
	await page.screenshot({ path: join(outDir, 'review.png'), fullPage: false });

	const [download] = await Promise.all([
		page.waitForEvent('download'),
		page.click('#save'),
	]);
	report.download_name = download.suggestedFilename();
	await download.saveAs(join(outDir, 'decisions.json'));

	// A filter: only the first card's category.
	const cats = report.category_options.filter((c) => c !== 'all');
	if (cats.length > 1) {
		await page.selectOption('#f-category', { index: 1 });
		report.cards_after_filter = await page.locator('article.card').count();
		await page.selectOption('#f-category', { index: 0 });
	}
	await close(b);
	console.log(JSON.stringify(report));
}

async function firstRender(pagePath) {
	const b = await open();
	const page = b.context.pages()[0] || await b.context.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	await page.goto(pathToFileURL(resolve(pagePath)).href, { waitUntil: 'commit', timeout: 120000 });
	await page.waitForFunction(() => window.skugenFirstCard !== undefined, null, { timeout: 120000, polling: 10 });
	const first = await page.evaluate(() => window.skugenFirstCard);
	await page.waitForSelector('body[data-loaded="1"]', { timeout: 300000 });
	const loaded = await page.evaluate(() => performance.now());
	const cards = await page.locator('article.card').count();
	// Responsive after load: time one keyboard approval round trip.
	await page.locator('article.card').first().focus();
	const t0 = Date.now();
	await page.keyboard.press('a');
	await page.waitForSelector('article.card.decided');
	const key_ms = Date.now() - t0;
	await close(b);
	console.log(JSON.stringify({ first_card_ms: first, all_parsed_ms: loaded, cards, key_ms, errors }));
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'check' && args.length >= 2) await check(args[0], args[1], Number(args[2] || 2));
else if (cmd === 'first-render' && args.length === 1) await firstRender(args[0]);
else {
	console.error('usage: node review_page.mjs check PAGE OUTDIR [N] | first-render PAGE');
	process.exit(64);
}
