"""The comparison as JSON and as a self-contained HTML matrix: prompts down, models (best first) across, each cell
the images of that prompt on that model with their verdicts and failing criteria."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment

from sentinel.compare.runner import Outcome
from sentinel.compare.suite import Suite


def _run_document(outcome: Outcome) -> dict[str, Any]:
    job = outcome.job or {}
    chosen = outcome.chosen or {}
    return {
        "prompt_index": outcome.run.case.index,
        "model": outcome.run.model,
        "repeat": outcome.run.repeat,
        "seed": outcome.run.seed,
        "job_id": job.get("id"),
        "state": job.get("state"),
        "verdict": outcome.verdict,
        "first_attempt_verdict": outcome.first_verdict,
        "attempts": len(outcome.attempts),
        "served_by": outcome.served_by,
        # No image chosen: the last attempt's error (a provider refusal, a missing key) says more than the job's reason.
        "summary": chosen.get("summary")
        or next((a["error"] for a in reversed(outcome.attempts) if a.get("error")), job.get("reason")),
        "failing_criteria": outcome.failing,
        "image_url": (chosen.get("image") or {}).get("url"),
        "latency_ms": outcome.latency_ms,
        "cost_usd": round(outcome.cost_usd, 6),
        "error": outcome.error,
    }


def document(
    suite: Suite, title: str, server: str, ranked: list[dict[str, Any]], outcomes: Sequence[Outcome], seconds: float
) -> dict[str, Any]:
    """The whole comparison: models ranked best first, the prompts, and every job."""
    return {
        "suite": title,
        "task": suite.task,
        "server": server,
        "seconds": round(seconds, 1),
        "max_attempts": suite.max_attempts,
        # Runs of each prompt per model: one per seed when the suite lists seeds.
        "repeats": suite.rounds,
        "seeds": suite.seeds,
        "models": ranked,
        "prompts": [{"index": c.index, "prompt": c.prompt, "params": c.params} for c in suite.cases()],
        "runs": [_run_document(o) for o in outcomes],
    }


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}: model comparison</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d6d6db; padding: .5rem; vertical-align: top; }
thead th { background: #f4f4f6; position: sticky; top: 0; text-align: left; }
.prompt { max-width: 18rem; text-align: left; }
.params { color: #666; font-size: 12px; }
.shot { display: inline-block; margin: 0 .4rem .4rem 0; max-width: 200px; }
.shot img { display: block; border: 4px solid #999; border-radius: 4px; max-width: 192px; }
.green img { border-color: #1f9d55; } .amber img { border-color: #e0a100; } .red img { border-color: #d62d20; }
.verdict { font-weight: 600; text-transform: uppercase; font-size: 12px; }
.green .verdict { color: #1f7a45; } .amber .verdict { color: #9a6b00; } .red .verdict { color: #b3261e; }
.failing { margin: .2rem 0 0; padding-left: 1rem; color: #b3261e; font-size: 12px; }
.note { color: #666; font-size: 12px; }
.error { color: #b3261e; font-size: 12px; }
.stats { font-weight: normal; font-size: 12px; color: #444; }
</style></head><body>
<h1>{{ title }}</h1>
<p>Task <code>{{ task }}</code> on {{ server }}; {{ models|length }} models × {{ prompts|length }} prompts
{%- if repeats > 1 %} × {{ repeats }} runs{% endif %}, at most {{ max_attempts }} attempts per job; {{ seconds }} s.
Models are ranked by green share, then fewest red, then first-attempt green share, attempts per green, cost.</p>
<table>
<thead><tr><th>prompt</th>
{% for m in models %}<th class="model" data-model="{{ m.model }}">#{{ m.rank }} {{ m.model }}<div class="stats">
green {{ pct(m.green_share) }} · amber {{ pct(m.amber_share) }} · red {{ pct(m.red_share) }}<br>
first-attempt green {{ pct(m.first_attempt_green_share) }} · attempts/green {{ num(m.attempts_per_green) }}<br>
cost ${{ "%.4f"|format(m.cost_usd) }} · p50 {{ secs(m.latency_p50_ms) }} · p95 {{ secs(m.latency_p95_ms) }}
</div></th>{% endfor %}
</tr></thead>
<tbody>
{% for p in prompts %}<tr><th class="prompt">{{ p.prompt }}{% if p.params %}<div class="params">
{%- for k, v in p.params.items() %}{{ k }}={{ v }} {% endfor %}</div>{% endif %}</th>
{% for m in models %}<td class="cell" data-model="{{ m.model }}" data-prompt="{{ p.index }}">
{% for r in cells[(p.index, m.model)] %}<div class="shot {{ r.verdict or 'none' }}">
{% if r.thumbnail -%}
<img src="{{ r.thumbnail }}" alt="{{ r.verdict or 'no verdict' }}" title="{{ r.summary or '' }}">
{%- endif %}
<span class="verdict">{{ r.verdict or r.state or 'error' }}</span>
<span class="note">{{ r.attempts }} attempt{{ '' if r.attempts == 1 else 's' }}
{%- if r.served_by %} · {{ r.served_by|join(', ') }}{% endif %}</span>
{% if r.failing_criteria %}<ul class="failing">
{%- for c in r.failing_criteria %}<li>{{ c }}</li>{% endfor %}</ul>{% endif %}
{% if r.error %}<div class="error">{{ r.error }}</div>
{%- elif not r.thumbnail %}<div class="note">{{ r.summary or '' }}</div>{% endif %}
</div>{% endfor %}</td>
{% endfor %}</tr>
{% endfor %}</tbody></table>
</body></html>
"""


def _pct(share: float) -> str:
    return f"{share:.0%}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _secs(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.1f} s"


def html(report: dict[str, Any], outcomes: Sequence[Outcome]) -> str:
    """The matrix page, images inlined as data URIs so the one file is the whole report."""
    cells: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for outcome, run in zip(outcomes, report["runs"], strict=True):
        cells.setdefault((run["prompt_index"], run["model"]), []).append(run | {"thumbnail": outcome.thumbnail})
    for prompt in report["prompts"]:
        for model in report["models"]:
            cells.setdefault((prompt["index"], model["model"]), [])
    environment = Environment(autoescape=True, trim_blocks=False)
    template = environment.from_string(TEMPLATE)
    return template.render(
        title=report["suite"],
        task=report["task"],
        server=report["server"],
        seconds=report["seconds"],
        max_attempts=report["max_attempts"],
        repeats=report["repeats"],
        models=report["models"],
        prompts=report["prompts"],
        cells=cells,
        pct=_pct,
        num=_num,
        secs=_secs,
    )
