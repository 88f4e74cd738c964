// One browser listener for bench/speaker_bench.sh: Debian's Chromium, driven
// by playwright-core (tests/browser/harness.mjs), HEADED, because headless
// Chromium sends no audio to PulseAudio. It signs in to the web app, opens
// the room, presses Listen and keeps listening until SIGTERM or SIGINT.
//
//   node bench/speaker_browser.mjs --server URL --user NAME --room ROOM_ID [--no-spread]
//   (the password in HIFI_BENCH_PASSWORD; DISPLAY, PULSE_SERVER and
//   PULSE_SINK in the environment are Chromium's: each process plays into
//   its own PulseAudio sink)
//
// --no-spread: the page is told the server has no cluster (GET
// /api/v1/cluster answers 404), so it keeps to URL rather than connecting
// to the member's own advertised address: URL may be a proxy in front of
// the server (like `hifi listen --no-spread`).
//
// stdout: "listening" once the page plays the room (its audio context
// running), then every 5 s (SPEAKER_BENCH_POLL_MS) one JSON line of the player's view
// (window.__hifiTest.position(): clock offset, output latency, position).
// Exit status 1 (with the reason on stderr) when it cannot get there in 60 s.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = await import(pathToFileURL(path.join(repoRoot, 'tests/browser/node_modules/playwright-core/index.mjs')).href);
const { CHROMIUM_ARGS, chromiumPath, newPage, submitSignIn } = await import(
  pathToFileURL(path.join(repoRoot, 'tests/browser/harness.mjs')).href);

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`speaker_browser: ${name} is required`);
    process.exit(2);
  }
  return process.argv[i + 1];
}
const server = arg('--server');
const user = arg('--user');
const room = arg('--room');
const password = process.env.HIFI_BENCH_PASSWORD;
const pollMs = Math.max(50, Number(process.env.SPEAKER_BENCH_POLL_MS) || 5000);
if (!password) {
  console.error('speaker_browser: HIFI_BENCH_PASSWORD is not set');
  process.exit(2);
}
if (!process.env.DISPLAY) {
  console.error('speaker_browser: no DISPLAY (run it under Xvfb: headless Chromium plays no audio)');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: false,
  args: CHROMIUM_ARGS,
  env: process.env,
});
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  await browser.close().catch(() => {});
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

const errors = [];
try {
  const page = await newPage(browser, errors);
  page.setDefaultTimeout(60000);
  if (process.argv.includes('--no-spread')) {
    await page.route('**/api/v1/cluster', (route) => route.fulfill({
      status: 404, contentType: 'application/problem+json', body: JSON.stringify({ title: 'Not Found', status: 404 }),
    }));
  }
  await page.goto(server);
  await submitSignIn(page, user, password);
  await page.getByRole('heading', { name: 'Home', exact: true }).waitFor();
  await page.goto(`${server}/#/rooms/${room}`);
  await page.getByRole('button', { name: 'Listen', exact: true }).click();
  await page.getByRole('button', { name: 'Stop listening' }).waitFor();
  await page.waitForFunction(() => window.__hifiTest?.position()?.audioState === 'running');
  console.log('listening');
  for (;;) {
    await new Promise((r) => setTimeout(r, pollMs));
    if (stopping) break;
    const view = await page.evaluate(() => window.__hifiTest.position()).catch(() => null);
    console.log(JSON.stringify({ t: Date.now(), ...view, errors: errors.length }));
  }
} catch (err) {
  if (!stopping) {
    console.error(`speaker_browser: ${err.message.split('\n')[0]}`);
    for (const e of errors) console.error(`speaker_browser: page error: ${e.split('\n')[0]}`);
    await stop(1);
  }
}
