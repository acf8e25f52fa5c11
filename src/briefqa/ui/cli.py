"""The ``briefqa`` command line: ingest, ask, retrieve, timeline, info, eval, settings, serve.

A thin layer over the Python API. Its flags are generated from the settings registry, so every setting can be
given on the command line with the same name as in the TOML config. A user's mistake ends with one line on
stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from typing import Any

from ..errors import BriefQAError, CorpusError
from ..settings import SECRETS, Settings, describe_origin, load_settings, setting_fields, settings_markdown, show_value
from .env import offline

EXIT_USER_ERROR = 1


def _add_setting_flags(parser: argparse.ArgumentParser, groups: set[str]) -> None:
    group = parser.add_argument_group("settings (precedence: flag > BRIEFQA_* environment > briefqa.toml > "
                                      "index > the defaults shown)")
    for name, default, help_, grp in setting_fields():
        if grp not in groups:
            continue
        flag = f"--{name.replace('_', '-')}"
        help_ = help_.replace("%", "%%")  # argparse formats help with %
        annotation = Settings.model_fields[name].annotation
        if annotation is bool:
            group.add_argument(flag, dest=f"set_{name}", action=argparse.BooleanOptionalAction, default=None,
                               help=f"{help_} (default: {'on' if default else 'off'})")
            continue
        choices = getattr(annotation, "__args__", None) if "Literal" in str(annotation) else None
        kind = type(default) if default is not None and not choices else str
        shown = "set in the environment" if name in SECRETS else default
        group.add_argument(flag, dest=f"set_{name}", type=kind, choices=choices, default=None,
                           metavar=None if choices else name.upper(), help=f"{help_} (default: {shown})")


def _add_filter_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", action="append", dest="sources", metavar="NAME",
                        help="only passages from this publication (repeatable)")
    parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="only articles published on or after")
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="only articles published on or before")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None}


def _settings(args: argparse.Namespace) -> Settings:
    """The settings of this command: flags over the environment over the config file over the defaults."""
    return load_settings(args.config, origin="--{flag}", **_overrides(args))


def _common(suppress: bool) -> argparse.ArgumentParser:
    # The same options before or after the command; after it they must not reset what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    common.add_argument("--config", default=default, metavar="TOML",
                        help="settings file (default: ./briefqa.toml when present)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="log more")
    return common


def _add_ray_flag(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS", help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="briefqa", parents=[_common(False)],
                                     description="Question answering over news analyses, with checked citations. "
                                                 "Offline.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common(True)
    add = sub.add_parser

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return add(name, parents=[common], **kwargs)

    p = command("ingest", help="add articles to an index (incremental): files, feeds, article URLs")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or directories of .txt .md .html .json .jsonl, or http(s) URLs of RSS/Atom feeds "
                        "and article pages")
    p.add_argument("--feeds", metavar="TOML", help="a feeds file: [[feed]] tables of url, name, include, exclude")
    p.add_argument("--prune", action="store_true", help="drop documents whose files are gone")
    p.add_argument("--rebuild", action="store_true", help="start a new index, replacing the old one on success")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_ray_flag(p, "embed on a Ray cluster: a local one, or the one at ADDRESS (needs briefqa[scale])")
    _add_setting_flags(p, {"ingest", "fetch"})

    p = command("watch", help="keep an index current: poll a feeds file on a schedule and ingest what is new")
    p.add_argument("--feeds", required=True, metavar="TOML", help="the feeds file (see `briefqa ingest --feeds`)")
    p.add_argument("--every", default="30m", metavar="DURATION", help="time between polls: 30m, 2h, 90s "
                                                                      "(default: 30m)")
    p.add_argument("--once", action="store_true", help="poll once and exit (1 if the poll failed)")
    _add_setting_flags(p, {"ingest", "fetch"})

    p = command("ask", help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    p.add_argument("--by-source", action="store_true",
                   help="one cited line per publication that covers the question, newest first")
    _add_filter_flags(p)
    _add_setting_flags(p, {"ingest", "retrieval", "answer"})

    p = command("retrieve", help="print the passages retrieved for a question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true")
    p.add_argument("--explain", action="store_true", help="say which filters fired and each passage's ranks")
    _add_filter_flags(p)
    _add_setting_flags(p, {"ingest", "retrieval"})

    p = command("timeline", help="the articles on a story, oldest first, each with what it added")
    p.add_argument("query")
    p.add_argument("--json", action="store_true")
    _add_filter_flags(p)
    _add_setting_flags(p, {"ingest", "retrieval", "answer"})

    p = command("info", help="describe an index")
    p.add_argument("--json", action="store_true")
    p.add_argument("--documents", action="store_true", help="list the documents")
    p.add_argument("--duplicates", action="store_true", help="list the story clusters of wire copies and updates")
    p.add_argument("--verify", action="store_true", help="check every file against its checksum (opening checks "
                                                           "large files by size only)")
    _add_setting_flags(p, {"ingest"})

    p = command("eval", help="evaluate on a QA dataset; or `eval compare A B` to compare two reports",
                       description="Evaluate retrieval, answers and citations on a dataset (MultiHop-RAG query "
                                   "file, seed format, or JSONL of {question, answer?, aliases?, evidence?, "
                                   "type?, id?}), for one or more configurations side by side. Results are "
                                   "written per question to OUT/results.jsonl, so an interrupted run resumes.")
    p.add_argument("target", nargs="+", metavar="DATASET", help="the dataset, or: compare REPORT_A REPORT_B")
    p.add_argument("--variant", action="append", dest="variants", metavar="TOML",
                   help="a configuration to compare: a TOML file of setting overrides with an optional `name` "
                        "(repeatable; the base settings come from --config, the environment and the flags)")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--retrieval-only", action="store_true", help="score retrieval only; answer nothing")
    p.add_argument("--out", help="directory for results.jsonl, report.json, report.md and charts")
    p.add_argument("--no-progress", action="store_true")
    _add_ray_flag(p, "answer the questions on a Ray cluster: a local one, or the one at ADDRESS")
    _add_setting_flags(p, {"ingest", "retrieval", "answer"})

    p = command("settings", help="list every setting with its default")
    p.add_argument("--markdown", action="store_true", help="as the Markdown table of docs/settings.md")

    p = command("serve", help="serve the chat page (builds the index from --corpus first if missing)")
    p.add_argument("--corpus", help="ingest this corpus first when the index does not exist")
    p.add_argument("--feeds", metavar="TOML", help="keep the index current from this feeds file while serving")
    p.add_argument("--every", default="30m", metavar="DURATION", help="time between polls of --feeds (default 30m)")
    _add_setting_flags(p, {"ingest", "retrieval", "answer", "serve", "fetch"})
    return parser


def cmd_ingest(args) -> int:
    from ..ingestion.pipeline import ingest

    if not args.paths and not args.feeds:
        raise CorpusError("Nothing to ingest; name files, directories or URLs, or a feeds file with --feeds.")
    report = ingest(args.paths, settings=_settings(args), prune=args.prune, rebuild=args.rebuild,
                    progress=False if args.no_progress else None, ray=args.ray, feeds=args.feeds)
    print(report.summary())  # skipped files were already logged, one line each
    return 0


def cmd_watch(args) -> int:
    from ..ingestion.watch import parse_every, watch

    failures = watch(args.feeds, _settings(args), parse_every(args.every), once=args.once)
    return EXIT_USER_ERROR if args.once and failures else 0


def cmd_ask(args) -> int:
    from ..api import BriefQA

    qa = BriefQA.open(settings=_settings(args))
    stream = qa.stream(args.question, sources=args.sources, date_from=args.date_from, date_to=args.date_to,
                       by_source=args.by_source)
    streaming = not args.json and qa.settings.answer_mode == "llm" and sys.stdout.isatty()
    for token in stream:
        if streaming:
            print(token, end="", flush=True)
    answer = stream.answer
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
        return 0
    if streaming:
        print("\n--- checked answer ---")
    print(answer.text)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            url = f" <{c.passage.metadata['url']}>" if c.passage.metadata.get("url") else ""
            print(f"[{c.marker}] {c.passage.label()}{url}\n    “{c.sentence}”")
            copies = _copies(c.passage)
            if copies:
                print(f"    also published by {copies}")
    if answer.as_of:
        print(f"\n(as of {answer.as_of})")
    t = answer.timings
    print(f"\n({len(answer.passages)} passages; retrieve {t.get('retrieve', 0) * 1000:.0f} ms, "
          f"total {t.get('total', 0):.2f} s; {answer.mode})", file=sys.stderr)
    return 0


def _copies(passage) -> str:
    return ", ".join(f"{c['source']} ({(c.get('published_at') or 'undated')[:10]})"
                     for c in passage.metadata.get("also_published_by", []))


def cmd_timeline(args) -> int:
    from ..api import BriefQA

    qa = BriefQA.open(settings=_settings(args))
    timeline = qa.timeline(args.query, sources=args.sources, date_from=args.date_from, date_to=args.date_to)
    if args.json:
        print(json.dumps(timeline.to_dict(), ensure_ascii=False, indent=1))
        return 0
    for note in timeline.notes:
        print(note)
    for e in timeline.entries:
        also = f"  (also: {', '.join(e.also_published_by)})" if e.also_published_by else ""
        print(f"{(e.published_at or 'undated')[:10]:10}  {e.source} — {e.title}{also}\n            {e.sentence}")
    print(f"({len(timeline.entries)} articles; {timeline.timings.get('total', 0) * 1000:.0f} ms)", file=sys.stderr)
    return 0


def cmd_retrieve(args) -> int:
    from ..api import BriefQA

    qa = BriefQA.open(settings=_settings(args))
    found = qa.explain(args.question, sources=args.sources, date_from=args.date_from, date_to=args.date_to)
    if args.json:
        out = {"passages": [p.to_dict() for p in found.passages], "timings": found.timings}
        if args.explain and found.analysis:
            out["analysis"] = asdict(found.analysis)
        print(json.dumps(out, ensure_ascii=False, indent=1, default=str))
        return 0
    if args.explain and found.analysis:
        a = found.analysis
        print(f"publications: {', '.join(a.sources) or 'none'}; "
              f"dates: {', '.join(m.value for m in a.mentions if m.kind in ('day', 'month')) or 'none'}")
        for note in a.notes:
            print(f"  - {note}")
        print()
    for i, p in enumerate(found.passages, 1):
        ranks = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} #{v}"
                          for k, v in p.metadata.get("ranks", {}).items())
        print(f"[{i}] {p.label()}  ({ranks})\n{p.text}\n")
    return 0


def cmd_info(args) -> int:
    from ..store.location import open_store

    store = open_store(_settings(args).index)
    if args.verify:
        store.verify()
    if args.duplicates:
        return _print_duplicates(store, args.json)
    info = store.info(with_documents=args.documents)
    if args.json:
        print(json.dumps(asdict(info), ensure_ascii=False, indent=1))
        return 0
    print(f"index:     {info.path} ({info.backend} backend, format {info.format_version}, updated {info.updated_at})\n"
          f"embedder:  {info.embedder} ({info.dimension} dimensions)\n"
          f"chunking:  {info.chunk_size} tokens, overlap {info.chunk_overlap}\n"
          f"contents:  {info.documents} documents, {info.chunks} chunks, {len(info.sources)} sources"
          + (f"\nstorage:   {info.segments} segments" if info.backend == "local" else "")
          + ("\nverified:  every file matches its checksum" if args.verify else ""))
    for d in info.documents_list:
        print(f"  {(d.published_at or '')[:10]:10}  {d.source[:24]:24}  {d.chunks:3} chunks  {d.title}")
    return 0


def _print_duplicates(store, as_json: bool) -> int:
    from ..api import BriefQA

    clusters = BriefQA.duplicates_of(store)
    if as_json:
        print(json.dumps({"clusters": [c.to_dict() for c in clusters]}, ensure_ascii=False, indent=1))
        return 0
    print(f"{len(clusters)} story clusters of copies ({sum(len(c.documents) for c in clusters)} documents)")
    for n, c in enumerate(clusters, 1):
        for i, d in enumerate(c.documents):
            day = (d.published_at or "undated")[:10]
            print(f"{str(n) if not i else '':>4}  {day:10}  {d.source[:24]:24}  {d.title}")
    return 0


def cmd_eval(args) -> int:
    from ..errors import DatasetError
    from ..evaluation.runner import compare, evaluate, read_config

    if args.target[0] == "compare":
        if len(args.target) != 3:
            raise DatasetError("`briefqa eval compare` takes two reports: briefqa eval compare A B.")
        print(compare(args.target[1], args.target[2]))
        return 0
    if len(args.target) != 1:
        raise DatasetError("`briefqa eval` takes one dataset; name several configurations with --config.")
    if not args.out:
        raise DatasetError("`briefqa eval` needs --out DIR for its results and report.")
    configs = [read_config(c) for c in args.variants or []]
    report = evaluate(args.target[0], settings=_settings(args), configs=configs or None, out=args.out,
                      limit=args.limit, retrieval_only=args.retrieval_only,
                      progress=False if args.no_progress else None, ray=args.ray)
    print(report.markdown().split("## Configurations")[0].rstrip())
    print(f"\nWritten to {args.out}: report.md, report.json, results.jsonl, metrics.png, by_type.png, latency.png")
    return 0


def cmd_settings(args) -> int:
    if args.markdown:
        print(settings_markdown(), end="")
        return 0
    current = _settings(args)
    for name, default, help_, group in setting_fields():
        value = show_value(name, getattr(current, name))
        mark = "" if not current.is_set(name) else f"  ({describe_origin(current.origin(name))}; default {default!r})"
        if name in SECRETS and current.is_set(name):
            mark = f"  ({describe_origin(current.origin(name))})"
        print(f"{name} = {value}{mark}\n    [{group}] {help_}")
    return 0


def cmd_serve(args) -> int:
    from ..ingestion.watch import parse_every
    from .chat import serve

    serve(_settings(args), corpus=args.corpus, feeds=args.feeds, every=parse_every(args.every))
    return 0


COMMANDS = {"ingest": cmd_ingest, "watch": cmd_watch, "ask": cmd_ask, "retrieve": cmd_retrieve, "info": cmd_info,
            "eval": cmd_eval, "timeline": cmd_timeline, "settings": cmd_settings, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    offline()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="briefqa: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except BriefQAError as exc:
        print(f"briefqa: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("briefqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `briefqa ... | head` closed the pipe: not an error of ours or the user's
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
