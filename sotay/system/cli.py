"""The `sotay` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

from sotay.system.registry import SERVICES, load
from sotay.kit.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sotay", description="Sổ tay đảng viên điện tử — the sotay system.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run every service in one process (embedded NATS and PostgreSQL by default)")
    up.add_argument("--demo", action="store_true", help="load the demo registry into an empty database")
    up.add_argument("--demo-members", type=int, default=None, help="members in the demo (default 120,000)")
    up.add_argument("--port", type=int, help="HTTP port (default 8000, or SOTAY_HTTP_PORT)")

    serve = sub.add_parser("serve", help="run one service (split mode)")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--port", type=int)

    token = sub.add_parser("token", help="print a bearer token signed with the local key")
    token.add_argument("--role", required=True,
                       choices=["member", "cell_secretary", "unit_admin", "editor", "chief_editor", "city_admin"])
    token.add_argument("--unit", default="city", help="code of the unit whose subtree the role covers")
    token.add_argument("--card", help="party card number, for a member's own token")
    token.add_argument("--subject", help="token subject (default: local-<role>-<unit>)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (at most SOTAY_TOKEN_MAX_LIFETIME_S)")

    imp = sub.add_parser("import", help="bulk import into the registry")
    imp.add_argument("kind", choices=["members"])
    imp.add_argument("file", type=Path, help="a .csv or .xlsx file with the member columns")

    demo = sub.add_parser("demo", help="load the demo registry into an empty database")
    demo.add_argument("--members", type=int, default=None)
    demo.add_argument("--seed", type=int, default=2023)

    sub.add_parser("migrate", help="apply every service's database migrations and create the streams, buckets "
                                   "and durable consumers (as the owner role and the NATS admin)")

    backup = sub.add_parser("backup", help="write one encrypted archive of the all-in-one system while it runs: "
                                           "streams with their consumers, the database, buckets, keys (docs/backup.md)")
    backup.add_argument("path", type=Path, help="the archive to write (never overwritten)")
    backup.add_argument("--passphrase-stdin", action="store_true",
                        help="read the passphrase from standard input (default: SOTAY_BACKUP_PASSPHRASE)")
    restore = sub.add_parser("restore", help="rebuild the all-in-one system from an archive into an empty data "
                                             "directory (SOTAY_DATA_DIR); then `sotay up`")
    restore.add_argument("path", type=Path, help="an archive `sotay backup` wrote")
    restore.add_argument("--passphrase-stdin", action="store_true",
                         help="read the passphrase from standard input (default: SOTAY_BACKUP_PASSPHRASE)")
    outbox = sub.add_parser("outbox", help="the services' outboxes")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    reconcile = outbox_sub.add_parser(
        "reconcile", help="after restoring streams older than the database: mark the outbox rows the database says "
                          "were published but their stream does not hold as unpublished, so the relays publish them")
    reconcile.add_argument("--since", type=_aware_time, help="only rows published from then on (ISO 8601; default: "
                                                            "every row the outboxes keep, a day's)")

    replay = sub.add_parser("replay", help="rebuild a service's projections from the streams (service stopped)")
    replay.add_argument("service", choices=["metrics"])
    metrics = sub.add_parser("metrics", help="the rollout projections")
    metrics.add_argument("action", choices=["verify"],
                         help="verify: recompute every figure from the streams and compare with the live ones")

    status = sub.add_parser("status", help="a running deployment at a glance: each service's processes and "
                                           "readiness, consumer lag, outbox backlog, dead letters, the last "
                                           "rollout snapshot (reads /readyz and /metrics with SOTAY_METRICS_TOKEN)")
    status.add_argument("--url", action="append", default=[],
                        help="a process to ask: URL (all it runs; default http://127.0.0.1:8000) or SERVICE=URL "
                             "(split mode; once per replica to count them)")

    dlq = sub.add_parser("dlq", help="the dead letters in SOTAY_DLQ: list, show, redrive")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", help="the dead letters, oldest first")
    dlq_list.add_argument("--consumer", help="only this consumer's (e.g. metrics-accounts)")
    dlq_list.add_argument("--limit", type=int, default=100)
    dlq_list.add_argument("--json", action="store_true", help="one JSON object a line")
    dlq_show = dlq_sub.add_parser("show", help="one dead letter with its headers and body")
    dlq_show.add_argument("seq", type=int, help="its sequence in SOTAY_DLQ")
    dlq_redrive = dlq_sub.add_parser("redrive", help="publish dead letters again on their original subjects (the "
                                                     "consumers that applied them already skip them) and delete them")
    dlq_redrive.add_argument("seqs", type=int, nargs="*", help="sequences in SOTAY_DLQ")
    dlq_redrive.add_argument("--consumer", help="every dead letter of this consumer")
    dlq_redrive.add_argument("--all", action="store_true", help="every dead letter")

    keys = sub.add_parser("keys", help="identity's token signing keys (rotate, list); members' data keys "
                                       "(rotate-members, list-members)")
    keys.add_argument("action", choices=["rotate", "list", "rotate-members", "list-members", "seal-members"])

    retention = sub.add_parser("retention", help="retention of personal data (docs/personal-data.md): what "
                                                 "the daily job does, now")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    retention_run = retention_sub.add_parser("run", help="minimise members who left long ago; delete rejected "
                                                         "registrations, expired sessions and reset codes")
    retention_run.add_argument("--dry-run", action="store_true", help="count what would go, change nothing")

    members = sub.add_parser("members", help="the member registry")
    members_sub = members.add_subparsers(dest="members_command", required=True)
    members_sub.add_parser("republish", help="send every member's snapshot again (after an upgrade that changed "
                                             "what member events carry: docs/events.md)")

    reg = sub.add_parser("registry", help="the member registry against the national database")
    reg_sub = reg.add_subparsers(dest="registry_command", required=True)
    reconcile = reg_sub.add_parser("reconcile", help="compare an export of the national member database (CSDL đảng "
                                                     "viên 3.0; the import's columns) with the registry: new, "
                                                     "changed, missing members per unit (docs/reconcile.md)")
    reconcile.add_argument("file", type=Path, help="a .csv or .xlsx export")
    reconcile.add_argument("--apply", action="store_true", help="also apply the differences (events through the "
                                                                "outbox); members missing from the export are "
                                                                "reported, never deleted")
    reconcile.add_argument("--out", type=Path, help="write the report (.xlsx or .csv, Vietnamese) to this file")
    reconcile.add_argument("--unit", default="city", help="the unit whose subtree is reconciled (default: city)")

    privacy = sub.add_parser("privacy", help="personal data (Law 91/2025/QH15)")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    report = privacy_sub.add_parser("report", help="write the record of processing (record-of-processing.md and "
                                                   ".xlsx) from the annotations beside each schema; no server needed")
    report.add_argument("--out", type=Path, default=Path("."), help="the folder to write to (default: this one)")
    report.add_argument("--lang", choices=["vi", "en"], default="vi", help="Vietnamese (default) or English")

    webhooks = sub.add_parser("webhooks", help="the endpoints outside systems receive their committee's events at "
                                               "(docs/webhooks.md), and the deliveries to them")
    webhooks_sub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    webhooks_add = webhooks_sub.add_parser("add", help="set up an endpoint; prints its signing secret, this once only")
    webhooks_add.add_argument("--committee", required=True, help="the committee code (or city) whose events it gets")
    webhooks_add.add_argument("--url", required=True, help="https on a public address")
    webhooks_add.add_argument("--mode", choices=["structured", "binary"], default="structured",
                              help="CloudEvents HTTP content mode (default structured)")
    webhooks_add.add_argument("--description", default="")
    webhooks_sub.add_parser("list", help="the endpoints, with their pending and failed deliveries")
    webhooks_status = webhooks_sub.add_parser("status", help="deliveries, newest first")
    webhooks_status.add_argument("--status", choices=["pending", "delivered", "failed"])
    webhooks_status.add_argument("--endpoint", help="one endpoint's (its id)")
    webhooks_status.add_argument("--committee")
    webhooks_status.add_argument("--limit", type=int, default=50)
    webhooks_retry = webhooks_sub.add_parser("retry", help="send failed deliveries again")
    webhooks_retry.add_argument("ids", type=int, nargs="*", help="delivery ids")
    webhooks_retry.add_argument("--failed", action="store_true", help="every failed delivery (of --endpoint)")
    webhooks_retry.add_argument("--endpoint", help="with --failed: one endpoint's (its id)")
    for action in ("enable", "disable"):
        toggle = webhooks_sub.add_parser(action, help=f"{action} an endpoint")
        toggle.add_argument("endpoint", help="its id")

    sub.add_parser("vapid-key", help="print a new Web Push (VAPID) key for SOTAY_VAPID_PRIVATE_KEY, and its public "
                                     "half (content hands that to browsers)")

    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create_user = admin_sub.add_parser("create-user", help="create an account with a role (the first city admin)")
    create_user.add_argument("--card", required=True, help="party card number (the sign-in name)")
    create_user.add_argument("--phone", required=True)
    create_user.add_argument("--role", default="city_admin",
                             choices=["cell_secretary", "unit_admin", "editor", "chief_editor", "city_admin"])
    create_user.add_argument("--unit", default="city")
    create_user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    bench = sub.add_parser("bench", help="benchmarks against the real servers (no scenario: the whole suite, "
                                         "quick size then Hanoi's)")
    bench.add_argument("scenario", nargs="?",
                       choices=["import", "identity", "feed", "metrics", "reads", "durability", "reconcile", "soak"],
                       help="one benchmark alone; without it, the end-to-end suite")
    bench.add_argument("--quick", action="store_true",
                       help="suite: the quick size only (20,000 members, 1,000 registrations, 2,000 readers)")
    bench.add_argument("--readers", type=int, help="suite: readers (with --members and --registrations: "
                                                   "one size of your own instead of the quick one)")
    bench.add_argument("--tree-scale", type=float,
                       help="suite: share of Hanoi's org tree (default: a quarter for the quick size, all for Hanoi's)")
    bench.add_argument("--identity-replicas", type=int, default=1,
                       help="suite: identity processes taking the registrations and sign-ins (default 1)")
    bench.add_argument("--freshness-seconds", type=float,
                       help="suite: how long the dashboard freshness scenario holds its load (default 30)")
    bench.add_argument("--rows", type=int, default=500_000, help="import, reconcile: member rows")
    bench.add_argument("--registrations", type=int, help="identity: registrations and sign-ins (default 1,000)")
    bench.add_argument("--members", type=int, help="feed: members (readers, default 100,000); soak: the registry "
                                                   "(default 20,000)")
    bench.add_argument("--articles", type=int, default=10_000, help="feed: published articles")
    bench.add_argument("--requests", type=int, default=10_000, help="feed: requests per measured run")
    bench.add_argument("--population", type=int, default=40_000, help="metrics: members in the backlog")
    bench.add_argument("--reads", type=int, default=3_000,
                       help="reads: records opened each way (floor, with the unusual-read check, past its threshold)")
    bench.add_argument("--rate", type=int, default=2_000, help="metrics: steady events/s")
    bench.add_argument("--seconds", type=float, default=20.0, help="metrics: how long the steady load runs")
    bench.add_argument("--messages", type=int, default=20_000,
                       help="durability: messages published pipelined per round and server")
    bench.add_argument("--singles", type=int, default=500,
                       help="durability: messages published one by one per round and server")
    bench.add_argument("--minutes", type=float, default=60.0, help="soak: how long the steady load runs")
    bench.add_argument("--interval", type=float, default=60.0, help="soak: seconds between samples")
    bench.add_argument("--registrations-per-s", type=float, default=1.0,
                       help="soak: registrations a second (readers 10x, transfers 1/5 of it, the dashboard 1/s)")
    bench.add_argument("--svg", type=Path, help="soak: also plot the samples into this SVG file")
    bench.add_argument("--json", type=Path, help="also write the figures to this JSON file")

    args = parser.parse_args(argv)
    settings = Settings()
    from sotay.kit.logs import configure_logging
    configure_logging(settings.log_level, settings.log_format,
                      service=f"sotay-{args.service}" if args.command == "serve" else "sotay")
    if getattr(args, "port", None):
        settings.http_port = args.port
    return COMMANDS[args.command](args, settings) or 0


def cmd_up(args, settings: Settings) -> int:
    from sotay.system.runtime import run_services

    on_started = None
    if args.demo:
        async def on_started(runtimes):
            from sotay.system.demo.load_registry import load_demo
            from sotay.system.demo.registry import DEFAULT_DEMO_MEMBERS

            members = next(r for r in runtimes if r.name == "members")
            started = time.monotonic()
            result = await load_demo(members.context, members=args.demo_members or DEFAULT_DEMO_MEMBERS)
            if result["loaded"]:
                print(f"demo registry loaded: {result['units']:,} units, {result['members']:,} members "
                      f"in {time.monotonic() - started:.1f}s", flush=True)
            else:
                print(f"demo not loaded: {result['reason']}", flush=True)
            content = next((r for r in runtimes if r.name == "content"), None)
            if content is not None:
                from sotay.system.demo.content import load_demo_content
                shown = await load_demo_content(content.context)
                print(f"demo content: {shown['articles']} articles and {shown['study_topics']} study topic published"
                      if shown["loaded"]
                      else f"demo content not loaded: {shown['reason']}", flush=True)
            identity = next((r for r in runtimes if r.name == "identity"), None)
            if identity is not None and result["loaded"]:
                from sotay.system.demo.rollout import DEMO_PASSWORD, load_demo_rollout
                started = time.monotonic()
                rollout = await load_demo_rollout(identity.context, members=result["members"])
                print(f"demo rollout: {rollout['registrations']:,} registrations, {rollout['approved']:,} approved, "
                      f"{rollout['pending']:,} waiting, in {time.monotonic() - started:.1f}s (demo accounts sign in "
                      f"with their card number and the password {DEMO_PASSWORD!r})" if rollout["loaded"]
                      else f"demo rollout not loaded: {rollout['reason']}", flush=True)
            if content is not None and result["loaded"]:
                from sotay.system.demo.meetings import load_demo_meetings
                met = await load_demo_meetings(content.context)
                print(f"demo meetings: {met['held']:,} held in {met['cells']:,} cells, {met['planned_next']:,} "
                      "planned for next month" if met["loaded"] else f"demo meetings not loaded: {met['reason']}",
                      flush=True)
            if result["loaded"]:
                from sotay.system.demo.reviews import load_demo_reviews
                started = time.monotonic()
                reviewed = await load_demo_reviews(members.context)
                print(f"demo reviews: {reviewed['year']}'s review finished, {reviewed['reviews']:,} members rated "
                      f"({reviewed['levels']['excellent']:,} excellent; {reviewed['over_cap']} of "
                      f"{reviewed['units']:,} deciding units past the cap), in {time.monotonic() - started:.1f}s"
                      if reviewed["loaded"] else f"demo reviews not loaded: {reviewed['reason']}", flush=True)
    run_services(list(SERVICES), settings, on_started=on_started)
    return 0


def cmd_serve(args, settings: Settings) -> int:
    from sotay.system.runtime import run_services

    run_services([args.service], settings)
    return 0


def cmd_token(args, settings: Settings) -> int:
    """A token signed with identity's newest key, for calling the API by hand. It needs what only
    identity holds (its database and key-encryption key), and never runs in production."""
    from sotay.kit.auth import Grant, mint_token
    from sotay.kit.keys import MissingKey

    if settings.env == "production":
        print("sotay token: refused: SOTAY_ENV is production. Tokens there come from identity's sign-in "
              "(POST /api/identity/v1/token).", file=sys.stderr)
        return 2
    if args.ttl > settings.token_max_lifetime_s:
        print(f"sotay token: --ttl at most {settings.token_max_lifetime_s} s (SOTAY_TOKEN_MAX_LIFETIME_S): "
              "services refuse longer-lived tokens", file=sys.stderr)
        return 2
    try:
        key = asyncio.run(_newest_signing_key(settings))
    except MissingKey as exc:
        print(f"sotay token: identity's signing key is not here ({exc}): run it where identity runs",
              file=sys.stderr)
        return 2
    print("sotay token: a development token; anyone holding it acts as "
          f"{args.role} of {args.unit} until it expires", file=sys.stderr)
    subject = args.subject or f"local-{args.role}-{args.unit}"
    print(mint_token(key, subject, [Grant(args.role, args.unit)], ttl_s=args.ttl, member_card_no=args.card,
                     unit=args.unit if args.role == "member" else None))
    return 0


async def _newest_signing_key(settings: Settings):
    from services.identity.adapters import keys
    from sotay.kit.keys import key_encryption_key

    async with offline_service("identity", settings) as ctx:
        signing = await keys.load_keys(ctx.engine, key_encryption_key(settings), first=settings.signing_key())
    return signing[0].private


@asynccontextmanager
async def offline_service(name: str, settings: Settings, *, with_nats: bool = False):
    """A service's database context without HTTP (and without NATS unless asked),
    for command-line work. Events it writes wait in the outbox until the
    service's relay runs. Its migrations are applied first, or with
    SOTAY_SETUP_ON_START=false (a service's role, which may not) checked."""
    from sotay.system.runtime import Infrastructure
    from sotay.kit.service import ServiceRuntime

    # Members writes events sealed with its member keys (sotay/kit/member_keys.py): NATS it needs.
    nats = with_nats or name == "members"
    infra = Infrastructure(settings).start([name], nats=nats)
    runtime = ServiceRuntime(load(name), settings, infra.nats_url or "nats://unused", infra.database_url_for(name))
    try:
        if settings.setup_on_start:
            await runtime.migrate()
        else:
            await runtime.check_migrated()
        async with (runtime.member_keys() if name == "members" else contextlib.nullcontext()):
            yield (runtime.context, infra.nats_url) if with_nats else runtime.context
    finally:
        await runtime.context.engine.dispose()
        infra.stop()


def cmd_import(args, settings: Settings) -> int:
    from services.members.adapters.bulk import ImportReport, MemberImporter, record_import_progress, \
        record_import_start
    from services.members.adapters.import_files import read_member_rows
    from sotay.kit.events import uuid7

    data = args.file.read_bytes()
    try:
        rows = read_member_rows(data, args.file.name)
    except ValueError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    expected = _estimate_rows(data, args.file.name)

    async def run() -> ImportReport:
        async with offline_service("members", settings) as ctx:
            report = ImportReport(import_id=uuid7())
            await record_import_start(ctx.engine, report, args.file.name, "cli")
            bar = ProgressBar(expected)
            await MemberImporter(ctx.engine, ctx, actor="cli").run(rows, report, progress=bar.update)
            bar.done(report)
            await record_import_progress(ctx.engine, report, "done")
            return report

    report = asyncio.run(run())
    for err in report.errors[:200]:
        print(f"row {err['row']}: {err['field']} {err['reason']}")
    if report.rejected > 200:
        print(f"… and more: {report.rejected} rows rejected in all")
    print(f"imported {report.imported:,} of {report.total_rows:,} rows; {report.rejected:,} rejected")
    return 1 if report.rejected else 0


def cmd_demo(args, settings: Settings) -> int:
    from sotay.system.demo.load_registry import load_demo
    from sotay.system.demo.registry import DEFAULT_DEMO_MEMBERS

    async def run():
        async with offline_service("members", settings) as ctx:
            bar = ProgressBar(args.members or DEFAULT_DEMO_MEMBERS)
            return await load_demo(ctx, members=args.members or DEFAULT_DEMO_MEMBERS, seed=args.seed,
                                   progress=bar.update)

    result = asyncio.run(run())
    print(result)
    return 0


def cmd_migrate(args, settings: Settings) -> int:
    """Everything services started with SOTAY_SETUP_ON_START=false do not do themselves:
    every schema's migrations (as the owner role of SOTAY_DATABASE_URL, or of each
    SOTAY_<SERVICE>_DATABASE_URL), then, as the NATS user of SOTAY_NATS_USER (the admin),
    the streams, the buckets, every service's durable consumers and the district ones."""
    from sotay.system.runtime import Infrastructure
    from sotay.kit.service import ServiceRuntime, connect_nats, set_up_nats

    async def run():
        infra = Infrastructure(settings).start(list(SERVICES))
        runtimes: list[ServiceRuntime] = []
        try:
            for name in SERVICES:
                runtimes.append(ServiceRuntime(load(name), settings, infra.nats_url, infra.database_url_for(name)))
                await runtimes[-1].migrate()
                print(f"{name}: migrated", flush=True)
            nc = await connect_nats(settings, infra.nats_url)
            try:
                await set_up_nats(nc, settings, runtimes)
            finally:
                await nc.close()
            districts = settings.district_codes()
            print("NATS: streams, buckets and consumers set up"
                  + (f"; district consumers of {', '.join(districts)}" if districts else ""), flush=True)
        finally:
            for runtime in runtimes:
                await runtime.context.engine.dispose()
            infra.stop()
    asyncio.run(run())
    return 0


@asynccontextmanager
async def online_service(name: str, settings: Settings):
    """A service's database context and a JetStream connection, for command-line work."""
    from sotay.kit.service import connect_nats

    async with offline_service(name, settings, with_nats=True) as (ctx, nats_url):
        nc = await connect_nats(settings, nats_url)
        try:
            yield ctx, nc.jetstream()
        finally:
            await nc.close()


def cmd_replay(args, settings: Settings) -> int:
    from services.metrics.handlers.rebuild import replay

    async def run():
        async with online_service("metrics", settings) as (ctx, js):
            stats = await replay(str(ctx.engine.url.render_as_string(hide_password=False)), js,
                                 ack_wait=settings.ack_wait_s, max_ack_pending=settings.consumer_batch * 4)
        print(f"metrics replayed: {stats.events:,} events ({stats.applied:,} applied) in {stats.seconds:.1f} s, "
              f"{stats.per_s:,.0f} events/s; live consumers resume after stream sequences "
              + ", ".join(f"{k} {v}" for k, v in stats.last_seq.items()))
    try:
        asyncio.run(run())
    except RuntimeError as exc:
        print(f"replay refused: {exc}", file=sys.stderr)
        return 2
    return 0


def _aware_time(text: str):
    from datetime import datetime, timezone

    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _passphrase(args) -> str:
    import os

    from sotay.system.backup import passphrase_from
    return passphrase_from(dict(os.environ), sys.stdin.readline() if args.passphrase_stdin else None)


def cmd_backup(args, settings: Settings) -> int:
    from sotay.system.backup import BackupError, backup

    try:
        print(f"backing up {settings.data_dir} to {args.path}", flush=True)
        report = asyncio.run(backup(settings, args.path, _passphrase(args), log=lambda line: print(line, flush=True)))
    except BackupError as exc:
        print(f"sotay backup: {exc}", file=sys.stderr)
        return 2
    print(f"backup written: {args.path}, {report.size:,} bytes, {report.events:,} events in "
          f"{len(report.streams)} streams and buckets, in {report.seconds:.1f} s; recovery point {report.recovery_point}")
    return 0


def cmd_restore(args, settings: Settings) -> int:
    from sotay.system.backup import BackupError, restore

    try:
        print(f"restoring {args.path} into {settings.data_dir}", flush=True)
        report = asyncio.run(restore(settings, args.path, _passphrase(args), log=lambda line: print(line, flush=True)))
    except BackupError as exc:
        print(f"sotay restore: {exc}", file=sys.stderr)
        return 2
    republish = ", ".join(f"{schema} {n:,}" for schema, n in report.republish.items() if n) or "none"
    print(f"restored: {report.events:,} events, the database, buckets and keys in {report.seconds:.1f} s; recovery "
          f"point {report.recovery_point}; outbox rows to publish again: {republish}. Start it with `sotay up`.")
    return 0


def cmd_outbox(args, settings: Settings) -> int:
    """`sotay outbox reconcile`, where the services run (split mode too): as the NATS admin and
    with the database URLs of `sotay migrate`."""
    from sotay.kit.service import connect_nats
    from sotay.system.backup import reconcile_outboxes
    from sotay.system.runtime import Infrastructure

    async def run() -> dict[str, int]:
        infra = Infrastructure(settings).start(list(SERVICES))
        try:
            nc = await connect_nats(settings, infra.nats_url)
            try:
                return await reconcile_outboxes({s: infra.database_url_for(s) for s in SERVICES}, nc,
                                                since=args.since, margin_s=settings.duplicate_window_s + 60)
            finally:
                await nc.close()
        finally:
            infra.stop()
    marked = asyncio.run(run())
    for schema, n in marked.items():
        print(f"{schema}: {n:,} outbox rows not in their stream, marked for the relay to publish again")
    return 0


def cmd_metrics(args, settings: Settings) -> int:
    from services.metrics.handlers.rebuild import verify

    async def run() -> int:
        async with online_service("metrics", settings) as (ctx, js):
            stats, differences = await verify(str(ctx.engine.url.render_as_string(hide_password=False)), js)
        print(f"recomputed from {stats.events:,} events in {stats.seconds:.1f} s")
        for line in differences:
            print(f"  differs: {line}")
        print("every figure matches" if not differences else f"{len(differences)} figures differ")
        return 0 if not differences else 1
    return asyncio.run(run())


def cmd_status(args, settings: Settings) -> int:
    from sotay.kit.keys import metrics_token
    from sotay.system.status import status

    report, healthy = status(args.url, metrics_token(settings))
    print(report)
    return 0 if healthy else 1


def cmd_dlq(args, settings: Settings) -> int:
    import orjson

    from sotay.kit import dlq
    from sotay.system.runtime import Infrastructure
    from sotay.kit.service import connect_nats

    if args.dlq_command == "redrive" and bool(args.seqs) + bool(args.consumer) + bool(args.all) != 1:
        print("sotay dlq redrive: give sequences, --consumer C or --all (one of them)", file=sys.stderr)
        return 2

    async def run() -> int:
        infra = Infrastructure(settings).start([])
        nc = await connect_nats(settings, infra.nats_url)
        try:
            js = nc.jetstream()
            if args.dlq_command == "list":
                rows = [d async for d in dlq.letters(js, consumer=args.consumer, limit=args.limit)]
                if args.json:
                    for d in rows:
                        print(orjson.dumps(d.summary()).decode())
                else:
                    print(dlq.format_table(rows) if rows else "no dead letters")
                return 0
            if args.dlq_command == "show":
                dead = await dlq.letter(js, args.seq)
                if dead is None:
                    print(f"no dead letter {args.seq} in SOTAY_DLQ", file=sys.stderr)
                    return 1
                print(dlq.format_letter(dead))
                return 0
            if args.seqs:
                chosen = [await dlq.letter(js, seq) for seq in args.seqs]
                missing = [seq for seq, d in zip(args.seqs, chosen, strict=True) if d is None]
                if missing:
                    print(f"no dead letter {', '.join(map(str, missing))} in SOTAY_DLQ", file=sys.stderr)
                    return 1
            else:
                chosen = [d async for d in dlq.letters(js, consumer=args.consumer)]
            failed = 0
            for dead in chosen:
                try:
                    await dlq.redrive(js, dead)
                except Exception as exc:
                    failed += 1
                    print(f"{dead.seq}: not redriven: {exc}", file=sys.stderr)
                else:
                    print(f"{dead.seq}: {dead.event_type or '?'} {dead.event_id} redriven to {dead.subject} "
                          f"(for {dead.consumer})")
            print(f"{len(chosen) - failed} redriven, {failed} failed")
            return 1 if failed else 0
        finally:
            await nc.close()
            infra.stop()
    return asyncio.run(run())


def cmd_keys(args, settings: Settings) -> int:
    from services.identity.adapters import keys
    from sotay.kit.keys import key_encryption_key

    if args.action.endswith("-members"):
        return asyncio.run(_members_keys(args.action, settings))

    async def run():
        async with offline_service("identity", settings) as ctx:
            kek = key_encryption_key(settings)
            if args.action == "rotate":
                kid = await keys.rotate(ctx.engine, kek)
                print(f"new signing key {kid}; running identity replicas sign with it within seconds, "
                      "and tokens signed by older keys stay valid until they expire")
            first = settings.signing_key() if settings.env == "development" else None
            for key in await keys.load_keys(ctx.engine, kek, first=first):
                print(f"{key.kid}  made {key.created_at:%Y-%m-%d %H:%M:%S %Z}")
    asyncio.run(run())
    return 0


async def _members_keys(action: str, settings: Settings) -> int:
    """Members' data keys: `rotate-members` makes a new one, seals the records and correction
    requests again under it and re-wraps every data key with SOTAY_MEMBERS_KEK (the one before in
    SOTAY_MEMBERS_KEK_PREVIOUS), while the service runs; `list-members` says what each seals."""
    from services.members.adapters import sealed

    async with offline_service("members", settings) as ctx:
        vault = sealed.vault_of(ctx.engine)
        if action == "seal-members":
            print(f"sealed what was in clear: {await sealed.seal_clear_rows(ctx.engine, vault)}")
        if action == "rotate-members":
            done = await sealed.rotate(ctx.engine, vault, progress=lambda table, n: print(
                f"  {table}: {n:,} sealed again", flush=True))
            print(f"new data key {done['data_key']}; re-wrapped with the current key-encryption key: "
                  f"{', '.join(map(str, done['rewrapped'])) or 'none needed'}")
        for key in await sealed.key_usage(ctx.engine):
            uses = ", ".join(f"{table} {n:,}" for table, n in key["uses"].items()) or "nothing"
            print(f"{key['id']:>4}  {'active' if key['active'] else 'older '}  made {key['created_at']:%Y-%m-%d %H:%M} "
                  f"wrapped by {key['kek_id']}  seals {uses}")
    return 0


def cmd_members(args, settings: Settings) -> int:
    """`sotay members republish`: every member's snapshot written again (services/members/handlers/
    republish.py); the events wait in the outbox for members' relay."""
    from services.members.handlers.republish import republish

    async def run():
        async with offline_service("members", settings) as ctx:
            return await republish(ctx)
    print(f"members: {asyncio.run(run()):,} snapshots written again; members' relay publishes them")
    return 0


def cmd_registry(args, settings: Settings) -> int:
    """`sotay registry reconcile FILE [--apply] [--out REPORT]`: counts per unit on the terminal (never a
    member's values); the detail in the report file."""
    from services.members.handlers import reconcile
    from sotay.kit.auth import Grant, Principal
    from sotay.kit.clock import hanoi_day
    from sotay.kit.http import Problem

    actor = Principal("cli", (Grant("city_admin" if args.unit == "city" else "unit_admin", args.unit),))

    async def run():
        async with offline_service("members", settings) as ctx:
            rec = await reconcile.reconcile_file(ctx, actor, args.file.read_bytes(), args.file.name,
                                                 today=hanoi_day())
            if args.apply and any(u["new"] or u["changed"] for u in rec["summary"]):
                rec = await reconcile.apply(ctx, actor, rec["id"], today=hanoi_day())
            if args.out:
                async with ctx.engine.begin() as db:
                    _, data = await reconcile.report(db, actor, rec["id"], "csv" if args.out.suffix == ".csv" else "xlsx")
                args.out.write_bytes(data)
            return rec

    try:
        rec = asyncio.run(run())
    except Problem as problem:
        print(f"{args.file}: {problem.detail or problem.title}", file=sys.stderr)
        for err in (problem.errors or [])[:50]:
            where = f"row {err['row']}, column {err['column']}: " if "row" in err else ""
            print(f"  {where}{err['reason']}", file=sys.stderr)
        return 2
    shown = reconcile.summary_json(rec)
    print(f"{'unit':<40}{'new':>8}{'changed':>9}{'missing':>9}{'conflicts':>10}{'outside':>9}{'identical':>11}")
    for u in shown["units"]:
        print(f"{u['name'][:39]:<40}{u['new']:>8,}{u['changed']:>9,}{u['missing']:>9,}{u['conflicts']:>10,}"
              f"{u['outside']:>9,}{u['identical']:>11,}")
    t = shown["totals"]
    print(f"{shown['rows_total']:,} rows ({shown['rows_outside']:,} outside the unit); {shown['differences']:,} "
          f"differences: {t['new']:,} new, {t['changed']:,} changed, {t['missing']:,} missing from the export, "
          f"{t['conflicts']:,} with a pending correction request, {t['outside']:,} moved to or from other units; "
          f"{shown['identical']:,} identical")
    print(f"members missing from the export are reported, not deleted; reconciliation {shown['id']}")
    if shown["outcome"]:
        o = shown["outcome"]
        print(f"applied: {o.get('applied', 0):,} members, {o['events']:,} events; {o.get('skipped', 0):,} skipped, "
              f"{o.get('held', 0):,} held back for a pending correction request")
    elif args.apply:
        print("applied: nothing to apply (0 events)")
    if args.out:
        print(f"report: {args.out}")
    return 0


def cmd_retention(args, settings: Settings) -> int:
    """What the retention job does (services/*/handlers/retention.py), now, with the settings'
    terms; counts only. Minimised members' MemberUpdated events wait in the outbox for members' relay."""
    from services.identity.handlers import retention as identity_retention
    from services.members.handlers import retention as members_retention

    async def run():
        verb = "would" if args.dry_run else "did"
        async with offline_service("members", settings) as ctx:
            done = await members_retention.minimise(ctx, years=settings.retention_left_years,
                                                    batch=settings.retention_batch, dry_run=args.dry_run)
        print(f"members ({verb} minimise: left over {settings.retention_left_years} years ago): "
              f"{done['members']:,} members, {done['correction_requests']:,} correction requests")
        async with offline_service("identity", settings) as ctx:
            done = await identity_retention.apply(ctx.engine, rejected_days=settings.retention_rejected_days,
                                                  expired_days=settings.retention_expired_days,
                                                  batch=settings.retention_batch, dry_run=args.dry_run)
        print(f"identity ({verb} delete): {done['registrations']:,} registrations rejected over "
              f"{settings.retention_rejected_days} days ago; expired over {settings.retention_expired_days} days "
              f"ago: {done['refresh_tokens']:,} refresh tokens, {done['password_reset_codes']:,} reset codes, "
              f"{done['known_addresses']:,} known addresses")
    asyncio.run(run())
    return 0


def cmd_vapid_key(args, settings: Settings) -> int:
    from sotay.kit.keys import new_vapid_key, vapid_public_key

    private = new_vapid_key()
    print(f"SOTAY_VAPID_PRIVATE_KEY={private}")
    print(f"# public key (applicationServerKey): {vapid_public_key(private)}")
    return 0


def cmd_privacy(args, settings: Settings) -> int:
    """The record of processing, from the annotations and the contracts alone; the processors are
    those this environment configures (SOTAY_PUSH_HOSTS). Incomplete annotations: nothing written."""
    from sotay.system.privacy import report
    from sotay.system.privacy.annotations import read

    annotations = read()
    if annotations.problems:
        print("sotay privacy report: nothing written, the annotations are not complete:", file=sys.stderr)
        for problem in annotations.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for path in report.write(args.out, annotations, args.lang, report.settings_of(annotations, settings)):
        print(path)
    return 0


def cmd_admin(args, settings: Settings) -> int:
    import getpass

    from services.identity.adapters.passwords import HASHER
    from services.identity.domain import password_problems
    from services.identity.handlers.accounts import create_user
    from sotay.contracts.fields import normalise_card_no, normalise_phone
    from sotay.kit.http import Problem

    try:
        card, phone = normalise_card_no(args.card), normalise_phone(args.phone)
    except ValueError as exc:
        print(f"invalid card or phone: {exc}", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    if problems := password_problems(password, card_no=card, phone=phone):
        print("password " + "; ".join(problems), file=sys.stderr)
        return 2

    async def run():
        async with offline_service("identity", settings) as ctx:
            async with ctx.engine.begin() as db:
                return await create_user(db, card_no=card, phone=phone, password_hash=HASHER.hash(password),
                                         role=args.role, unit=args.unit, by="cli", card_hash=ctx.pii_hash(card))
    try:
        created = asyncio.run(run())
    except Problem as problem:
        print(f"{problem.title}: {problem.detail or ''} {problem.errors or ''}", file=sys.stderr)
        return 1
    print(f"account {created['account_id']} ({created['card']}): "
          + ", ".join(f"{role} of {unit}" for role, unit in created["roles"]))
    return 0


def cmd_bench(args, settings: Settings) -> int:
    from sotay.system.bench import run_identity_benchmark, run_import_benchmark

    if args.scenario is None:
        from sotay.system.bench_suite import run_suite, suite_sizes
        try:
            sizes = suite_sizes(quick_only=args.quick, members=args.members, registrations=args.registrations,
                                readers=args.readers, tree_scale=args.tree_scale,
                                freshness_s=args.freshness_seconds)
        except ValueError as exc:
            print(f"sotay bench: {exc}", file=sys.stderr)
            return 2
        if args.identity_replicas < 1:
            print("sotay bench: --identity-replicas must be at least 1", file=sys.stderr)
            return 2
        return asyncio.run(run_suite(settings, sizes=sizes, json_file=args.json,
                                     identity_replicas=args.identity_replicas))
    if args.scenario == "identity":
        return asyncio.run(run_identity_benchmark(settings, registrations=args.registrations or 1000,
                                                  json_file=args.json))
    if args.scenario == "metrics":
        from sotay.system.bench_metrics import run_metrics_benchmark
        return asyncio.run(run_metrics_benchmark(settings, members=args.population, rate=args.rate,
                                                 seconds=args.seconds, json_file=args.json))
    if args.scenario == "feed":
        from sotay.system.bench_feed import run_feed_benchmark
        return asyncio.run(run_feed_benchmark(settings, members=args.members or 100_000, articles=args.articles,
                                              requests=args.requests, json_file=args.json))
    if args.scenario == "durability":
        from sotay.system.bench_durability import run_durability_benchmark
        return asyncio.run(run_durability_benchmark(messages=args.messages, singles=args.singles,
                                                    json_file=args.json))
    if args.scenario == "reconcile":
        from sotay.system.bench_reconcile import run_reconcile_benchmark
        return asyncio.run(run_reconcile_benchmark(settings, rows=args.rows, json_file=args.json))
    if args.scenario == "soak":
        from sotay.system.bench_soak import run_soak_benchmark
        return asyncio.run(run_soak_benchmark(settings, minutes=args.minutes, interval_s=args.interval,
                                              members=args.members or 20_000, rate=args.registrations_per_s,
                                              tree_scale=args.tree_scale, json_file=args.json, svg_file=args.svg))
    if args.scenario == "reads":
        from sotay.system.bench_reads import run_reads_benchmark
        return asyncio.run(run_reads_benchmark(settings, reads=args.reads, json_file=args.json))
    return asyncio.run(run_import_benchmark(settings, rows=args.rows, json_file=args.json))


class ProgressBar:
    """A one-line progress bar on stderr; a plain count when the total is unknown."""

    def __init__(self, total: int | None, width: int = 40) -> None:
        self.total = total
        self.width = width
        self.started = time.monotonic()

    def update(self, report) -> None:
        done = report.total_rows
        rate = done / max(time.monotonic() - self.started, 1e-6)
        if self.total:
            filled = min(self.width, int(self.width * done / self.total))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{self.total:,} rows"
        else:
            bar = f"{done:,} rows read"
        sys.stderr.write(f"\r{bar} {report.imported:,} imported {report.rejected:,} rejected {rate:,.0f} rows/s")
        sys.stderr.flush()

    def done(self, report) -> None:
        self.update(report)
        sys.stderr.write("\n")


def _estimate_rows(data: bytes, filename: str) -> int | None:
    """Data rows in the file, when that is cheap to know: a workbook says so
    only if its writer recorded the sheet's dimensions."""
    if data[:4] == b"PK\x03\x04":
        from io import BytesIO

        from openpyxl import load_workbook
        sheet = load_workbook(BytesIO(data), read_only=True).worksheets[0]
        return sheet.max_row - 1 if sheet.max_row and sheet.max_row > 1 else None
    return max(data.count(b"\n") - 1, 1)


def cmd_webhooks(args, settings: Settings) -> int:
    """The webhook bridge's endpoints and deliveries, straight on its database (the running
    service picks up what changes within a second)."""
    import uuid

    from services.webhooks.adapters.sender import policy_from_settings
    from services.webhooks.handlers import endpoints as hooks
    from sotay.kit.http import Problem
    from sotay.kit.keys import webhooks_kek

    if args.webhooks_command == "retry" and bool(args.ids) == bool(args.failed):
        print("sotay webhooks retry: give delivery ids or --failed (one of them)", file=sys.stderr)
        return 2

    def endpoint_id(value: str | None) -> uuid.UUID | None:
        return uuid.UUID(value) if value else None

    async def run() -> int:
        async with offline_service("webhooks", settings) as ctx:
            command = args.webhooks_command
            if command == "add":
                made = await hooks.add(ctx.engine, webhooks_kek(settings), policy_from_settings(settings),
                                       actor="cli", committee=args.committee, url=args.url, mode=args.mode,
                                       description=args.description)
                print(f"endpoint {made['id']} for {made['committee']}: {made['url']} ({made['mode']})")
                print(f"signing secret (shown this once; give it to the receiving system): {made['secret']}")
                return 0
            if command == "list":
                rows = await hooks.list_endpoints(ctx.engine)
                lines = [("id", "committee", "on", "mode", "pending", "failed", "last delivered", "url")]
                lines += [(e["id"], e["committee"], "yes" if e["enabled"] else "no", e["mode"], str(e["pending"]),
                           str(e["failed"]), (e["last_delivered_at"] or "")[:19], e["url"]) for e in rows]
                print(_table(lines) if rows else "no endpoints")
                return 0
            if command == "status":
                rows = await hooks.list_deliveries(ctx.engine, status=args.status, endpoint_id=endpoint_id(args.endpoint),
                                                   committee=args.committee, limit=args.limit)
                lines = [("id", "endpoint", "committee", "status", "tries", "last answer", "event type", "error")]
                lines += [(str(d["id"]), d["endpoint_id"][:8], d["committee"], d["status"], str(d["attempts"]),
                           str(d["last_status_code"] or ""), d["event_type"], d["last_error"] or "") for d in rows]
                print(_table(lines) if rows else "no deliveries")
                return 0
            if command == "retry":
                if args.failed:
                    retried = await hooks.retry_failed(ctx.engine, endpoint_id(args.endpoint))
                else:
                    retried = await hooks.retry(ctx.engine, args.ids)
                    for skipped in sorted(set(args.ids) - set(retried)):
                        print(f"delivery {skipped} is not a failed delivery: left as it is", file=sys.stderr)
                print(f"{len(retried)} deliveries to send again" + (f": {', '.join(map(str, retried))}" if retried else ""))
                return 0 if retried or args.failed else 1
            made = await hooks.set_enabled(ctx.engine, uuid.UUID(args.endpoint), command == "enable")
            print(f"endpoint {made['id']} ({made['committee']}): {'enabled' if made['enabled'] else 'disabled'}")
            return 0

    try:
        return asyncio.run(run())
    except Problem as problem:
        reasons = "; ".join(f"{e['field']} {e['reason']}" for e in problem.errors or [])
        print(f"sotay webhooks: {problem.detail or problem.title}" + (f" ({reasons})" if reasons else ""),
              file=sys.stderr)
        return 2
    except ValueError as exc:  # an id that is not one
        print(f"sotay webhooks: {exc}", file=sys.stderr)
        return 2


def _table(lines: list[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
                     for line in lines)


COMMANDS = {"up": cmd_up, "serve": cmd_serve, "token": cmd_token, "import": cmd_import, "demo": cmd_demo,
            "migrate": cmd_migrate, "keys": cmd_keys, "admin": cmd_admin, "bench": cmd_bench, "replay": cmd_replay,
            "metrics": cmd_metrics, "dlq": cmd_dlq, "vapid-key": cmd_vapid_key, "privacy": cmd_privacy,
            "retention": cmd_retention, "members": cmd_members, "status": cmd_status, "backup": cmd_backup,
            "restore": cmd_restore, "outbox": cmd_outbox, "webhooks": cmd_webhooks, "registry": cmd_registry}

if __name__ == "__main__":
    sys.exit(main())
