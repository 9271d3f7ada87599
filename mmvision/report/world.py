"""The demo world's summary as text (what ``data demo`` and the demo print)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def world_summary(summary: dict[str, Any]) -> str:
    """Lines describing ``shapes.generate``'s summary."""
    s = summary["splits"]
    return "\n".join(
        [
            f"demo world written to {summary['root']}",
            f"  classes                  {summary['classes']}",
            f"  images                   {summary['images']} "
            f"(train {s['train']}, val {s['val']}, test {s['test']})",
            f"  sources                  {summary['sources']}",
            f"  caption vocabulary       {summary['caption_vocabulary']} words",
            f"  missing descriptions     {summary['missing_description_rate']:.1%}",
            f"  text label noise         {summary['text_label_noise_rate']:.1%} "
            "(images whose web text names a wrong shape or colour)",
            f"  contact sheet            {Path(summary['root']) / 'contact_sheet.png'}",
        ]
    )
