#!/usr/bin/python3
"""console.py - drive the operator console in headless Chromium (tests/e2e_console.sh).

Connects to a chromedriver the test started (--driver-port), opens the
console at --url, signs in with --token and checks, printing one
"ok    ..." / "FAIL  ..." line per check (the shell counts them):
no browser console errors, both charts drawn from the census and report
log, the rollout raised from 10 % to 20 % in the page (then `PROBE raised`
must succeed: the new bucket's device is offered the release over CoAP,
the one outside still gets code 27), paused (`PROBE paused`), an IMEI
added to the allowlist (`PROBE allowlisted`), and a write without the
token refused. Screenshots go to --shots/console-*.png. Every wait is
bounded; exit status = number of failures.
"""
import argparse
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

FAILS = 0


def check(desc, ok):
    global FAILS
    print(("ok    " if ok else "FAIL  ") + desc, flush=True)
    FAILS += 0 if ok else 1
    return ok


def wait(driver, cond, timeout=10):
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: cond(d))
        return True
    except Exception:
        return False


def shot(driver, args, name, section):
    driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", section)
    driver.find_element(By.ID, section).screenshot(f"{args.shots}/console-{name}.png")


def probe(args, step):
    try:
        r = subprocess.run([args.probe, step], timeout=60)
        return r.returncode == 0
    except subprocess.TimeoutExpired:
        return False


def rollout_in_force(driver):
    return driver.execute_async_script(
        "const done = arguments[0];"
        "fetch('/api/rollout', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('ota-token')}})"
        ".then(r => r.json()).then(j => done(j.in_force)).catch(e => done(null));")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--driver-port", type=int, required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--imei-add", required=True)
    args = ap.parse_args()

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-default-apps", "--no-first-run",
              "--disable-extensions", "--window-size=1000,1400"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{args.driver_port}", options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        run(driver, args)
    finally:
        driver.quit()
    return FAILS


def run(driver, args):
    driver.get(args.url + "/")
    check("the page asks for a token", wait(driver, lambda d: d.find_element(By.ID, "login").is_displayed()))
    tok = driver.find_element(By.ID, "token")
    check("the token field has the keyboard focus",
          driver.switch_to.active_element == tok)
    tok.send_keys(args.token + Keys.ENTER)  # keyboard only: type, Enter
    check("signed in: every view loaded", wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")))
    pairs = driver.execute_script("const c = Chart.getChart('chart-pairs'); return c ? c.data.datasets[0].data : null")
    # 40, 7, 3 in the census file, plus the checks this test's devices made since
    check(f"bar chart drawn from the census ({pairs})",
          pairs is not None and len(pairs) == 3 and 3 in pairs and 7 in pairs and max(pairs) >= 40)
    days = driver.execute_script(
        "const c = Chart.getChart('chart-days'); return c ? [c.data.labels, c.data.datasets[1].data, c.data.datasets[2].data] : null")
    check(f"line chart drawn from the report log ({days})",
          days is not None and "2026-11-28" in days[0] and sum(days[1]) == 5 and sum(days[2]) == 2)
    pixels = driver.execute_script(
        "const c = document.getElementById('chart-pairs'); const x = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < x.length; i += 4) n += x[i] > 0; return n;")
    check(f"the bar chart has pixels ({pixels})", pixels > 1000)
    rows = driver.find_elements(By.CSS_SELECTOR, "#packages tbody tr")
    check(f"releases list the packages ({len(rows)})", len(rows) >= 7)
    drops = driver.find_element(By.ID, "drops").text
    check("a refused drop and its reason are shown", "bad-drop" in drops and "sha256 mismatch" in drops)
    shot(driver, args, "fleet", "fleet")
    shot(driver, args, "releases", "releases")

    # rollout 10 % -> 20 % with the keyboard
    pct = driver.find_element(By.ID, "percent")
    check("the rollout shows 10.00 %", "10.00" in driver.find_element(By.ID, "rollout-state").text)
    pct.send_keys(Keys.CONTROL, "a")
    pct.send_keys("20" + Keys.ENTER)
    check("20 % in force within 5 s", wait(driver, lambda d: (rollout_in_force(d) or {}).get("percent") == "20.00"))
    check("raised: the new bucket's device is offered the release, the outside one gets 27", probe(args, "raised"))
    driver.find_element(By.ID, "rollout-pause").click()
    check("paused in force within 5 s", wait(driver, lambda d: (rollout_in_force(d) or {}).get("paused") is True))
    check("paused: no new offers (code 27)", probe(args, "paused"))
    driver.find_element(By.ID, "rollout-resume").click()
    check("resumed within 5 s", wait(driver, lambda d: (rollout_in_force(d) or {}).get("paused") is False))

    area = driver.find_element(By.ID, "allow-text")
    area.send_keys(args.imei_add)
    driver.find_element(By.ID, "allow-add").click()
    check("allowlist edit shown in the page", wait(driver, lambda d: args.imei_add in d.find_element(By.ID, "allow-list").get_attribute("textContent")))
    check("allowlisted: the device is offered the release", probe(args, "allowlisted"))
    check("the changes are in the audit list", wait(driver, lambda d: "allowlist edit" in d.find_element(By.ID, "audit").text))
    shot(driver, args, "rollout", "rollout")

    imei = driver.find_element(By.ID, "imei")
    imei.send_keys(args.imei_add + Keys.ENTER)
    check("device lookup shows the verdict", wait(driver, lambda d: "offered" in d.find_element(By.ID, "device-out").text))
    shot(driver, args, "device", "device")
    check("live view filled", wait(driver, lambda d: "transfers running" in d.find_element(By.ID, "live-out").text))
    shot(driver, args, "live", "live")
    driver.set_window_size(412, 900)  # a phone
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)  # layout after the resize; not racing the server
    driver.save_screenshot(f"{args.shots}/console-phone.png")
    driver.set_window_size(1000, 1400)

    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    check(f"no console errors ({errors})", not errors)
    status = driver.execute_async_script(
        "const done = arguments[0]; fetch('/api/rollout', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({percent: 100})}).then(r => done(r.status)).catch(e => done(String(e)));")
    check(f"a write without the token is refused ({status})", status == 401)


if __name__ == "__main__":
    sys.exit(main())
