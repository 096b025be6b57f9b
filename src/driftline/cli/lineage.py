"""CLI commands over the lineage graph: init, register, list, show, lineage, ancestors, ..."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.tree import Tree

from driftline import render
from driftline.cli import roles as R
from driftline.cli.common import (
    STATE,
    console,
    err_console,
    open_store,
    parse_kv,
    print_json,
    short_metrics,
    talkative,
    when,
)
from driftline.present.progress import Steps, progress_bar
from driftline.safefile import write_atomic
from driftline.validation import check_choice

if TYPE_CHECKING:
    from driftline.store import Model

#: ``driftline.store.EDGE_KINDS`` for the help text, without loading the store for ``--help``
#: (tests/cli/test_cli_startup.py checks the two agree)
EDGE_KINDS_HELP = "finetune|prune|distill|merge|quantize|adapter|repair|route|other"


def store_exists(location: str | None) -> bool:
    """Whether ``location`` (a folder, a database URL, or the default) already holds a store."""
    from driftline.store.engine import DB_FILE, default_location, is_url

    loc = location or default_location()
    if not is_url(loc):
        return (Path(loc) / DB_FILE).is_file()
    import sqlalchemy as sa

    engine = sa.create_engine(loc)
    try:
        return sa.inspect(engine).has_table("models")
    except sa.exc.SQLAlchemyError:  # unreachable server: let opening the store say why
        return False
    finally:
        engine.dispose()


def init(
    deltas: bool | None = typer.Option(
        None,
        "--deltas/--no-deltas",
        help="store each new tensor as its smallest lossless form (a delta against its parent's "
        "tensor, or compressed); recorded in the store, so every later open uses it",
    ),
    delta_every: int = typer.Option(
        16, "--delta-every", min=1, help="a full copy every K versions (a load reads ≤ K blobs)"
    ),
    delta_chain: str = typer.Option(
        "parent",
        "--delta-chain",
        help="parent: delta against the parent's tensor (smallest); keyframe: against the "
        "chain's full copy (a load reads ≤ 2 blobs)",
    ),
) -> None:
    """Create a store (default ./.driftline, or --store / $DRIFTLINE_STORE); an existing store
    is left as it is, except for --deltas/--no-deltas, which change how later registrations
    store their tensors (stored versions are not rewritten)."""
    from driftline.store.engine import redact

    check_choice("delta chain", delta_chain, ["parent", "keyframe"])
    existed = store_exists(STATE["store"])
    store = open_store(create=not existed)
    where = store.root or redact(store.url)
    if deltas is not None:
        _record_deltas(store, deltas, delta_every, delta_chain)
    if existed:
        n = len(store.list_models())
        console.print(
            f"a driftline store already exists at [bold]{where}[/bold] ({n} model(s), blobs: "
            f"{store.blobs.location}); "
            + ("left unchanged" if deltas is None else "only its delta setting changed"),
            soft_wrap=True,
        )
        return
    console.print(
        f"Initialised driftline store at [bold]{where}[/bold] (blobs: {store.blobs.location})"
    )


def _record_deltas(store: Any, on: bool, every: int, chain: str) -> None:
    """Record the store's delta settings (:func:`driftline.store.deltas.record_settings`)."""
    from driftline.store.deltas import Chain, DeltaSettings, record_settings

    settings = DeltaSettings(every=every, chain=Chain(chain)) if on else None
    with store.write() as conn:
        record_settings(conn, settings)
    store.deltas = settings
    state = f"on (a full copy every {every} versions, deltas against the {chain})" if on else "off"
    console.print(f"delta compression for new registrations: {state}")


def register(
    path: Path = typer.Argument(
        ...,
        help=".safetensors, .npz, PyTorch .pt, .skops, .onnx, LightGBM .txt, XGBoost .json/.ubj",
    ),
    name: str = typer.Option(..., "--name", "-n", help="model name; versions count up per name"),
    parent: list[str] = typer.Option(None, "--parent", "-p", help="parent model reference"),
    transform: str = typer.Option("finetune", "--transform", "-t", help=EDGE_KINDS_HELP),
    param: list[str] = typer.Option(None, "--param", help="transformation setting k=v"),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="metric k=v"),
    tag: list[str] = typer.Option(None, "--tag", help="tag k=v"),
    data: Path = typer.Option(
        None, "--data", help="training data (CSV/Parquet/JSONL): stores its signature"
    ),
    target: str = R.TARGET,
    prediction: list[str] = R.PREDICTION,
    id: list[str] = R.ID,
    timestamp: list[str] = R.TIMESTAMP,
    ignore: list[str] = R.IGNORE,
    architecture: str = typer.Option(
        None,
        "--architecture",
        help="for tensor files: JSON (or @file.json) naming the "
        "architecture, e.g. the 'framework'/'estimator' a sklearn model was stored with",
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Register a model version from a model or parameter file (never unpickles)."""
    from driftline.cli.register_file import read_model_file

    store = open_store()
    kwargs: dict[str, Any] = {}
    with progress_bar(err_console, enabled=talkative() and not as_json) as bar:
        if data is not None:
            kwargs.update(
                _training_data(data, R.role_spec(target, prediction, id, timestamp, ignore), bar)
            )
        bar.say(f"registering {path}")
        model = store.register(
            read_model_file(path, architecture),
            name=name,
            parents=parent or [],
            transform=transform,
            params=parse_kv(param, "--param"),
            metrics=parse_kv(metric, "--metric"),
            tags=parse_kv(tag, "--tag"),
            **kwargs,
        )
    if as_json:
        print_json(model.to_dict())
    elif model.name != name or (model.tags.get("aliases") or [{}])[-1].get("name") == name:
        console.print(
            f"identical content is already registered as [bold]{model.ref}[/bold] {model.id}; "
            f"recorded '{name}' as an alias with its metrics and tags"
        )
    else:
        console.print(f"registered [bold]{model.ref}[/bold] {model.id}")
        if "signature" in kwargs:
            R.print_roles(kwargs["signature"], console)


def _training_data(data: Path, spec: Any, bar: Steps) -> dict[str, Any]:
    """``register``'s keywords for training data: the table, its signature (roles from the
    flags) and the input schema the model will be fed by."""
    from driftline.drift import Signature
    from driftline.drift.roles import check_no_empty_features, input_schema
    from driftline.drift.tabular import read_frame

    bar.say(f"reading {data}")
    frame = read_frame(data)
    sig = Signature.from_data(
        frame, roles=spec, progress=lambda done, n: bar.count(done, n, "summarising rows")
    )
    check_no_empty_features(sig)
    return {
        "data": frame,
        "signature": sig,
        "architecture": {"input_schema": input_schema(frame, sig)},
    }


def list_models(
    name: str = typer.Option(None, "--name", help="only this model name"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List registered models."""
    models = open_store().list_models(name)
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    table = Table("ref", "id", "framework", "created", "metrics", title="models")
    for m in models:
        table.add_row(m.ref, m.short_id, m.framework, when(m.created_at), short_metrics(m.metrics))
    console.print(table)


def show(
    ref: str = typer.Argument(..., help="id, id prefix, name@version, name or deployment:NAME"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Show one model: metadata, tensors, parents and children."""
    store = open_store()
    m = store.get(ref)
    manifest = store.manifest(m.id)
    parents, children = store.parents(m.id), store.children(m.id)
    if as_json:
        d = m.to_dict()
        d["tensors"] = [
            {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "blob": t.blob}
            for t in manifest
        ]
        d["parents"] = [e.to_dict() for e in parents]
        d["children"] = [e.to_dict() for e in children]
        print_json(d)
        return
    console.print(f"[bold]{m.ref}[/bold]  {m.id}")
    console.print(f"framework {m.framework}   created {when(m.created_at)}   kind {m.kind}")
    console.print(f"signature {m.signature_id or '-'}")
    if m.metrics:
        console.print(f"metrics   {short_metrics(m.metrics, 20)}")
    if m.tags:
        console.print(f"tags      {short_metrics(m.tags, 20)}")
    t = Table("tensor", "dtype", "shape", "blob", title="tensors")
    for info in manifest:
        t.add_row(info.name, info.dtype, "×".join(map(str, info.shape)) or "scalar", info.blob[:12])
    console.print(t)
    for title, rows, col in (("parents", parents, "parent"), ("children", children, "child")):
        if rows:
            e = Table(col, "kind", "params", "metrics", title=title)
            for r in rows:
                other = getattr(r, col)
                e.add_row(
                    store.get(other).ref, r.kind, short_metrics(r.params), short_metrics(r.metrics)
                )
            console.print(e)


def lineage(
    ref: str = typer.Argument(..., help="model reference"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Tree view of a model's family: its ancestors and descendants with edge kinds and metrics."""
    store = open_store()
    focus = store.resolve(ref)
    nodes, edges = store.family(focus)
    if as_json:
        print_json(
            {
                "focus": focus,
                "nodes": [n.to_dict() for n in nodes],
                "edges": [e.to_dict() for e in edges],
            }
        )
        return
    deployed = store.deployed_names() if hasattr(store, "deployed_names") else {}
    by_id = {n.id: n for n in nodes}
    kids: dict[str, list] = {}
    has_parent = set()
    for e in edges:
        kids.setdefault(e.parent, []).append(e)
        has_parent.add(e.child)
    roots = [n for n in nodes if n.id not in has_parent]
    shown: set[str] = set()

    def label(m: Model, kind: str | None) -> str:
        mark = " [bold cyan]◀[/bold cyan]" if m.id == focus else ""
        dep = "".join(f" [green]deployment:{d}[/green]" for d in deployed.get(m.id, []))
        edge = f"[magenta]{kind}[/magenta] → " if kind else ""
        return f"{edge}[bold]{m.ref}[/bold] {m.short_id} {short_metrics(m.metrics)}{dep}{mark}"

    def grow(tree: Tree, mid: str) -> None:
        for e in sorted(
            kids.get(mid, []), key=lambda e: (by_id[e.child].name, by_id[e.child].version)
        ):
            child = by_id[e.child]
            if child.id in shown:
                tree.add(f"[magenta]{e.kind}[/magenta] → {child.ref} [dim](shown above)[/dim]")
                continue
            shown.add(child.id)
            grow(tree.add(label(child, e.kind)), child.id)

    top = Tree(f"lineage of [bold]{by_id[focus].ref}[/bold]")
    for r in roots:
        shown.add(r.id)
        grow(top.add(label(r, None)), r.id)
    console.print(top)


def _relatives(ref: str, max_hops: int | None, as_json: bool, direction: str) -> None:
    store = open_store()
    rows = store.ancestors(ref, max_hops) if direction == "up" else store.descendants(ref, max_hops)
    if as_json:
        print_json([{"id": r.id, "ref": f"{r.name}@{r.version}", "hops": r.hops} for r in rows])
        return
    table = Table(
        "hops", "ref", "id", title=f"{'ancestors' if direction == 'up' else 'descendants'} of {ref}"
    )
    for r in rows:
        table.add_row(str(r.hops), f"{r.name}@{r.version}", r.id[:12])
    console.print(table)


def ancestors(
    ref: str = typer.Argument(..., help="model reference"),
    max_hops: int = typer.Option(None, "--max-hops", help="stop after this many hops"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List a model's ancestors, nearest first."""
    _relatives(ref, max_hops, as_json, "up")


def descendants(
    ref: str = typer.Argument(..., help="model reference"),
    max_hops: int = typer.Option(None, "--max-hops", help="stop after this many hops"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List a model's descendants, nearest first."""
    _relatives(ref, max_hops, as_json, "down")


def export(
    ref: str = typer.Argument(..., help="model reference"),
    output: Path = typer.Option(..., "--output", "-o", help="target .safetensors file"),
) -> None:
    """Export a model's parameters to .safetensors (bit-exact)."""
    path = open_store().export(ref, output)
    console.print(f"wrote {path}")


def graph(
    ref: str = typer.Argument(..., help="model reference"),
    fmt: str = typer.Option("dot", "--format", "-f", help="|".join(render.FORMATS)),
    hops: int = typer.Option(None, "--hops", help="only the neighbourhood within this many hops"),
    output: Path = typer.Option(None, "--output", "-o", help="write to a file instead of stdout"),
) -> None:
    """Export the lineage graph around a model (dot, graphml, json, mermaid, svg)."""
    check_choice("format", fmt, render.FORMATS)
    store = open_store()
    focus = store.resolve(ref)
    nodes, edges = store.subgraph(focus, hops) if hops is not None else store.family(focus)
    text = render.render(fmt, nodes, edges, highlight=focus)
    if output:
        write_atomic(output, text)
        console.print(f"wrote {output}")
    else:
        print(text, end="")


def register_commands(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(register)
    app.command("list")(list_models)
    app.command()(show)
    app.command()(lineage)
    app.command()(ancestors)
    app.command()(descendants)
    app.command()(export)
    app.command()(graph)


__all__ = ["register_commands", "STATE"]
