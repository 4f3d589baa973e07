"""Write .dvc/plots/offline.html: the page template `dvc plots show` and `dvc plots diff`
use (.dvc/config: plots.html_template), with Vega, Vega-Lite and Vega-Embed inlined from
vl-convert-python's bundle, so the page draws with no network. DVC's own template loads
them from a CDN and stays blank offline. Rerun after upgrading vl-convert-python; a test
checks that the committed file is what this script writes."""

from __future__ import annotations

import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / ".dvc" / "plots" / "offline.html"
# DVC's plot templates are Vega-Lite 5 specs: draw them with a Vega-Lite 5.
VEGA_LITE_VERSION = "v5.21"

HEAD = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <script type="text/javascript">
"""
TAIL = """
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def template() -> str:
    """The page: DVC fills {plot_divs} (and {refresh_tag}); no {scripts}, so DVC adds no
    CDN script tags."""
    import vl_convert

    return HEAD + vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION) + TAIL


def main() -> int:
    from housing.io import write_text

    write_text(template(), TARGET)
    print(TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
