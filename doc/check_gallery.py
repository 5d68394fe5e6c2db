"""Check that every gallery example ran and drew a figure in the built site.

Run after ``make -C doc html``::

    python doc/check_gallery.py [--html doc/_build/html] [--examples examples]

For every ``examples/plot_*.py`` it opens ``<html>/auto_examples/<name>.html`` and checks
that the page exists, shows at least one figure of that example
(``sphx_glr_<name>_NNN.png``) whose image file was copied into the site, holds no traceback,
and reports the run time that sphinx-gallery wrote on the page ("Total running time of the
script"). It prints one line per example and exits with status 1 if any example fails a
check (2 if the site was not built).
"""

import argparse
import html
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent
_RUN_TIME = re.compile(r"Total running time of the script:\s*\((\d+) minutes? ([\d.]+) seconds?\)")
_TAGS = re.compile(r"<[^>]+>")
_ERROR_MARKERS = ("Traceback (most recent call last)", "broken_example.png")


def _text(page):
    """The visible text of an HTML page (tags replaced by spaces, entities decoded)."""
    return html.unescape(_TAGS.sub(" ", page))


def check_example(script, gallery_html):
    """Check one example's page.

    Returns
    -------
    result : dict
        ``name``, ``figures`` (number of figure images found), ``seconds`` (run time or
        None) and ``problems`` (list of str, empty when the example passed).
    """
    name = script.stem
    page_path = gallery_html / f"{name}.html"
    result = {"name": name, "figures": 0, "seconds": None, "problems": []}
    if not page_path.is_file():
        result["problems"].append(f"no page {page_path}")
        return result
    page = page_path.read_text(encoding="utf-8")
    images = sorted(set(re.findall(
        rf'src="([^"]*sphx_glr_{re.escape(name)}_\d+\.png)"', page)))
    missing = [src for src in images if not (page_path.parent / src).is_file()]
    result["figures"] = len(images) - len(missing)
    if not images:
        result["problems"].append("no figure on the page")
    if missing:
        result["problems"].append(f"figure files missing: {missing}")
    for marker in _ERROR_MARKERS:
        if marker in page:
            result["problems"].append(f"the page shows an error ({marker!r})")
    match = _RUN_TIME.search(_text(page))
    if match:
        result["seconds"] = 60 * int(match.group(1)) + float(match.group(2))
    else:
        result["problems"].append("no run time on the page (was the gallery executed?)")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=DOC / "_build" / "html",
                        help="built site (default: doc/_build/html)")
    parser.add_argument("--examples", type=Path, default=DOC.parent / "examples",
                        help="gallery sources (default: examples/)")
    args = parser.parse_args(argv)

    scripts = sorted(args.examples.glob("plot_*.py"))
    gallery_html = args.html / "auto_examples"
    if not gallery_html.is_dir():
        print(f"error: {gallery_html} does not exist; build the site first "
              f"(make -C doc html).", file=sys.stderr)
        return 2
    if not scripts:
        print(f"error: no plot_*.py example in {args.examples}.", file=sys.stderr)
        return 2

    results = [check_example(script, gallery_html) for script in scripts]
    width = max(len(r["name"]) for r in results)
    print(f"{'example':{width}s}  {'status':6s}  {'figures':>7s}  {'run time':>9s}")
    for r in results:
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:8.1f}s"
        status = "FAIL" if r["problems"] else "ok"
        print(f"{r['name']:{width}s}  {status:6s}  {r['figures']:7d}  {seconds:>9s}")
        for problem in r["problems"]:
            print(f"{'':{width}s}  - {problem}")
    total = sum(r["seconds"] or 0.0 for r in results)
    failed = [r["name"] for r in results if r["problems"]]
    print(f"total run time of the {len(results)} examples: {total / 60:.1f} min")
    print(f"gallery: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
