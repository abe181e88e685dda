// Drives Debian's Chromium through the admin page: sign in → list (stats, live refresh, filters)
// → detail (attempts, body, headers) → replay → bulk replay (dry-run count first) → DLQ redrive.
// Run by tests/tests/admin_page.rs, which prepares the stack and checks the outcome through the API.
//
// usage: node admin_page.mjs BASE_URL TOKEN SCREENSHOT_DIR FAILED_ID DEAD_ID LATE_ID
// Prints "LIST-READY" when the list page is open (the Rust side then sends the LATE event), and
// "screenshot: PATH" for each screenshot.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";

const [base, token, shotDir, failedId, deadId, lateId] = process.argv.slice(2);
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "hookgate-chromium-"));
fs.mkdirSync(shotDir, { recursive: true });

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(20000);
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));

async function shot(name) {
  const p = path.join(shotDir, name);
  await page.screenshot({ path: p, fullPage: true });
  console.log(`screenshot: ${p}`);
}

try {
  // Without the session cookie: the sign-in form. A wrong token is refused.
  await page.goto(`${base}/admin`);
  await page.waitForSelector("form#login");
  await page.fill("input[name=token]", "not-the-token-at-all");
  await page.click("form#login button");
  await page.waitForSelector("text=not the admin token");
  await page.fill("input[name=token]", token);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click("form#login button")]);

  // The list: stats panel, rows, live refresh picks up an event sent after the page loaded.
  await page.waitForSelector("#stats");
  await page.waitForSelector(`tr[data-event-id="${failedId}"]`);
  await page.waitForSelector(`tr[data-event-id="${deadId}"]`);
  assert.equal(await page.isChecked("#live"), true);
  console.log("LIST-READY");
  await page.waitForSelector(`tr[data-event-id="${lateId}"]`, { timeout: 30000 });
  // The stats panel refreshes too: four events now.
  await page.waitForFunction(() => document.querySelector("#stats .card b").textContent.trim() === "4");
  const statsText = await page.textContent("#stats");
  assert.match(statsText, /success rate/);
  await shot("admin-list.png");

  // Filters: status=failed shows only the failed event.
  await page.selectOption("select[name=status]", "failed");
  await Promise.all([page.waitForURL(/status=failed/), page.click("#filters button[type=submit]")]);
  const rows = await page.$$eval("#rows tr[data-event-id]", (trs) => trs.map((t) => t.dataset.eventId));
  assert.deepEqual(rows, [failedId]);

  // Detail: attempts timeline with the handler's exit code and output, pretty body, headers.
  await Promise.all([page.waitForURL(`${base}/admin/events/${failedId}`), page.click(`a[href="/admin/events/${failedId}"]`)]);
  const attempts = await page.textContent("#attempts");
  assert.match(attempts, /broken/);
  assert.match(attempts, /permanent/);
  assert.match(attempts, /exit 3/);
  assert.match(attempts, /bad input/);
  const body = await page.textContent("#body");
  assert.match(body, /\n  "ref": "refs\/heads\/broken"/);
  assert.match(await page.textContent("#headers"), /content-type/);
  assert.equal((await page.textContent("#status")).trim(), "failed");

  // Replay this event.
  await Promise.all([page.waitForURL(/flash=/), page.click("#replay")]);
  assert.match(await page.textContent("#flash"), /Replayed as generation 2/);
  await shot("admin-detail.png");

  // Bulk replay: the dry-run count first, then the confirmed run.
  await page.goto(`${base}/admin?status=failed&source=github`);
  // The generation-2 run has to finish failing again before it matches `failed`.
  for (let i = 0; i < 100; i++) {
    const ids = await page.$$eval("#rows tr[data-event-id]", (trs) => trs.map((t) => t.dataset.eventId));
    if (ids.includes(failedId)) break;
    await page.waitForTimeout(200);
    await page.reload();
  }
  await Promise.all([page.waitForURL(`${base}/admin/replay`), page.click("#bulk-count")]);
  assert.equal((await page.textContent("#matched")).trim(), "1");
  await shot("admin-bulk-dry-run.png");
  await page.click("#confirm");
  await page.waitForSelector("#replay-result");
  assert.match(await page.textContent("#replay-result"), /1 replayed/);

  // The dead-letter queue: the dead event's message, then redrive.
  await page.goto(`${base}/admin/dlq`);
  await page.waitForSelector(`#dlq a[href="/admin/events/${deadId}"]`);
  await shot("admin-dlq.png");
  await Promise.all([page.waitForURL(/flash=/), page.click("#redrive button")]);
  assert.match(await page.textContent("#flash"), /Moved 1 message/);

  assert.deepEqual(errors, [], "no JavaScript errors on the page");
  console.log("BROWSER-OK");
} catch (e) {
  await shot("admin-failure.png").catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
