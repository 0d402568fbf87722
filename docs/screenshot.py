"""Take docs/screenshot.png: the search page answering a question, at desktop width.

    .venv/bin/qa serve &        # any running `qa serve` over the seeds/ index
    .venv/bin/python docs/screenshot.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

QUESTION = "How many soldiers did Russia say it withdrew across the Dnipro?"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("screenshot.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 720}, color_scheme="light")
        page.goto(args.url.rstrip("/") + "/")
        page.fill("#qa-q", QUESTION)
        for _ in range(2):  # the second answer shows a warm server's time
            page.press("#qa-q", "Enter")
            page.wait_for_selector("#qa-results[aria-busy=false] .hit")
        page.locator("#qa-q").blur()
        page.screenshot(path=str(args.out))
        browser.close()
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
