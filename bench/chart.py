"""chart.py: bar charts of bench.py's medians, and W5's -j curve.

draw() writes one SVG per case (wall and CPU side by side, one bar per
client) and, when W5 ran, the -j curve of popfetch against mpop's level,
into outdir as KEY-CASE.svg, and returns [(title, path)]. matplotlib
comes from Debian (python3-matplotlib); the SVGs carry no date and a
fixed hash salt, so an unchanged chart is an unchanged file.
"""

import os
import statistics
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

matplotlib.rcParams["svg.hashsalt"] = "popfetch-bench"
matplotlib.rcParams["svg.fonttype"] = "none"

COLOURS = {"floor": "#999999", "mpop": "#d62728", "fetchmail": "#9467bd"}


def colour(client):
    if client.startswith("popfetch base"):
        return "#aec7e8"
    if client.startswith("popfetch"):
        return "#1f77b4"
    if client.startswith("floor "):
        return "#cccccc"
    return COLOURS.get(client, "#2ca02c")


def med(results, case, client, k):
    vals = results.get((case, client))
    return statistics.median(v[k] for v in vals) if vals else None


def slug(case):
    return case.lower().replace(" ", "-")


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def bars(results, clients, case, path, note):
    names = [c for c in clients if (case, c) in results]
    ms = case.startswith("W0")
    scale, unit = (1000.0, "ms") if ms else (1.0, "s")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2 + 0.1 * len(names)))
    for ax, k, what in ((axes[0], 0, "wall"), (axes[1], 1, "CPU")):
        vals = [med(results, case, c, k) * scale for c in names]
        ax.barh(range(len(names)), vals,
                color=[colour(c) for c in names])
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names)
        ax.invert_yaxis()
        ax.set_xlabel("%s, %s (median)" % (what, unit))
        for i, v in enumerate(vals):
            ax.text(v, i, " %.*f" % (1 if ms else 2, v), va="center",
                    fontsize=8)
        ax.margins(x=0.2)
    title = "%s: wall and CPU time, lower is better" % case
    if note:
        title += "\n" + textwrap.fill("(%s)" % note, 90)
    fig.suptitle(title, fontsize=10)
    save(fig, path)


def jobs_curve(results, clients, path, note):
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for prefix, style in (("popfetch -j", "-o"), ("popfetch base -j", ":o")):
        pts = sorted((int(c[len(prefix):]), c) for c in clients
                     if c.startswith(prefix) and ("W5", c) in results)
        if not pts:
            continue
        xs = [j for j, _ in pts]
        label = prefix[:-3]
        ax.plot(xs, [med(results, "W5", c, 0) for _, c in pts], style,
                color=colour(label), label=label + " wall")
        ax.plot(xs, [med(results, "W5", c, 1) for _, c in pts], style,
                color=colour(label), alpha=0.5, label=label + " CPU")
    mw, mc = med(results, "W5", "mpop", 0), med(results, "W5", "mpop", 1)
    if mw is not None:
        ax.axhline(mw, color=colour("mpop"), label="mpop -a wall")
        ax.axhline(mc, color=colour("mpop"), ls="--", alpha=0.6,
                   label="mpop -a CPU")
    ax.set_xscale("log", base=2)
    ax.set_xticks([1, 2, 8, 32])
    ax.set_xticklabels(["1", "2", "8", "32"])
    ax.set_xlabel("popfetch -j (parallel accounts)")
    ax.set_ylabel("seconds (median)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    title = "W5: 200 accounts x 20 x 4 KiB, -a"
    if note:
        title += "\n" + textwrap.fill("(%s)" % note, 75)
    ax.set_title(title, fontsize=9)
    save(fig, path)


def draw(results, clients, cases, outdir, key, note):
    os.makedirs(outdir, exist_ok=True)
    out = []
    for case in dict.fromkeys(cases):
        path = os.path.join(outdir, "%s-%s.svg" % (key, slug(case)))
        bars(results, clients.get(case, []), case, path, note)
        out.append(("%s: wall and CPU per client" % case, path))
        if case == "W5":
            path = os.path.join(outdir, "%s-w5-jobs.svg" % key)
            jobs_curve(results, clients.get(case, []), path, note)
            out.append(("W5: popfetch by -j against mpop -a", path))
    return out
