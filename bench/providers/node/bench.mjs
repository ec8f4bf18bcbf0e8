// bench.mjs: the official openai Node SDK doing what bench/providers asks of
// skugen's provider pool: CALLS chat completions, CONCURRENCY at a time,
// against BASE_URL (fake_llm), after WARMUP calls.  Prints one JSON line:
// {"sdk", "node", "calls", "ok", "errors", "wall_ms", "cpu_us"} where
// cpu_us is process.cpuUsage() (user + system, every thread of the process)
// over the timed calls only, as the C side measures its own.
//
// Usage: node bench.mjs BASE_URL CALLS CONCURRENCY [WARMUP]
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';

const [baseURL, callsArg, concArg, warmArg] = process.argv.slice(2);
const calls = Number(callsArg), concurrency = Number(concArg), warmup = Number(warmArg ?? 0);
const version = JSON.parse(readFileSync(new URL('./node_modules/openai/package.json', import.meta.url))).version;
const client = new OpenAI({
  apiKey: process.env.OPENAI_API_KEY || 'sk-bench-node',
  baseURL,
  maxRetries: 5,
  timeout: 120_000,
});

async function run(n) {
  let next = 0, ok = 0, errors = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      try {
        await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [
            { role: 'system', content: 'You are a copywriter for an online shop.' },
            { role: 'user', content: `Write a product description for SKU ${i}: linen shirt, relaxed fit, sand colour.` },
          ],
          max_completion_tokens: 200,
          temperature: 0.7,
        });
        ok++;
      } catch (e) {
        errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ok, errors };
}

if (warmup > 0) await run(warmup);
const c0 = process.cpuUsage();
const t0 = performance.now();
const { ok, errors } = await run(calls);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(c0);
console.log(JSON.stringify({ sdk: version, node: process.version, calls, ok, errors, wall_ms: wall, cpu_us: cpu.user + cpu.system }));
