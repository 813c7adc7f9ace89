"""Command line of the data layer: ``python -m data init | demo | import | export | mapping | backup | restore |
user-add ...``.

Exit codes: 0 success, 1 (import) some rows rejected, 2 configuration or file-level error (one line on stderr,
no traceback). ``import`` and ``export`` print a JSON summary as their last line on stdout.
"""

from __future__ import annotations

import argparse
import sys

from data.engine import DatabaseConfigError, database_url, get_engine, masked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data", description="GridCX data layer")
    sub = parser.add_subparsers(dest="command", required=True)

    p_init = sub.add_parser("init", help="upgrade the database to the newest schema")
    p_init.add_argument("--demo-if-empty", metavar="SIZE", choices=["S", "M", "L", "XL"],
                        help="load the demo world of this size when the database holds no work orders")
    p_init.add_argument("--seed", type=int, default=42)

    p_demo = sub.add_parser("demo", help="generate the deterministic demo world (idempotent; same as python -m demo)")
    p_demo.add_argument("--size", choices=["S", "M", "L", "XL"], default="M")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--replace", action="store_true", help="replace non-demo data (destructive)")

    p_imp = sub.add_parser("import", help="import tickets/contacts/responses from CSV/XLSX, or a whole site")
    p_imp.add_argument("kind", nargs="?", choices=["tickets", "contacts", "responses", "invitations"])
    p_imp.add_argument("file", nargs="?")
    p_imp.add_argument("--mapping", help="mapping: a saved name (NAME or NAME@VERSION), a shipped name or a path "
                                         "(default: detected from the header)")
    p_imp.add_argument("--dry-run", action="store_true",
                       help="read, validate and resolve the whole file and report what the import would do; "
                            "write nothing")
    p_imp.add_argument("--sheet", help="worksheet of an XLSX file (default: the first)")
    p_imp.add_argument("--rejects", help="where to write the rejects CSV (default: FILE.rejects.csv beside FILE)")
    p_imp.add_argument("--all", metavar="DIR", help="load a whole-site export into this (empty) database")
    p_imp.add_argument("--user", help="who is importing (audit trail); default: the OS user")
    p_imp.add_argument("--lang", choices=["zh-CN", "en"], help="language of messages (default: from LANG)")

    p_map = sub.add_parser("mapping", help="column mappings: list, show or save them (shipped files and saved in the "
                                           "database), check a mapping file, or write the language's JSON Schema")
    map_sub = p_map.add_subparsers(dest="action", required=True)
    p_map_list = map_sub.add_parser("list", help="every mapping: shipped ones and saved ones with their versions")
    p_map_list.add_argument("--kind", choices=["tickets", "contacts", "responses"])
    p_map_show = map_sub.add_parser("show", help="print a mapping's JSON (NAME, NAME@VERSION or a shipped name)")
    p_map_show.add_argument("name")
    p_map_save = map_sub.add_parser("save", help="save a mapping JSON file as the next version of NAME")
    p_map_save.add_argument("name")
    p_map_save.add_argument("file")
    p_map_save.add_argument("--user", help="who is saving (audit trail); default: the OS user")

    p_exp = sub.add_parser("export", help="export tickets/contacts/responses in the canonical format, or a whole site")
    p_exp.add_argument("kind", nargs="?", choices=["tickets", "contacts", "responses"])
    p_exp.add_argument("--out", required=True, help="output file (.csv or .xlsx), or a directory with --all")
    p_exp.add_argument("--from", dest="start", metavar="YYYY-MM-DD")
    p_exp.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="inclusive")
    p_exp.add_argument("--all", action="store_true", help="export every table for a site move")
    p_exp.add_argument("--user", help="who is exporting (audit trail); default: the OS user")
    p_exp.add_argument("--lang", choices=["zh-CN", "en"])

    p_check = map_sub.add_parser("check", help="validate a mapping file; errors name the key path (exit 0 valid, 2 not)")
    p_check.add_argument("file", metavar="FILE")
    p_schema = map_sub.add_parser("schema", help="print the mapping language's JSON Schema (docs/mapping-schema.json)")
    p_schema.add_argument("--out", metavar="FILE", help="write it to FILE instead of stdout")

    p_bak = sub.add_parser("backup", help="copy the SQLite database to FILE (online, consistent)")
    p_bak.add_argument("--out", required=True, metavar="FILE")
    p_res = sub.add_parser("restore", help="replace the SQLite database with a backup FILE")
    p_res.add_argument("file", metavar="FILE")
    p_res.add_argument("--force-older", action="store_true",
                       help="restore even over a database with a newer schema (the backup is then upgraded)")

    p_user = sub.add_parser("user-add", help="create an account (e.g. the first administrator); the password is "
                                             "read from GRIDCX_NEW_PASSWORD or asked for, never a default")
    p_user.add_argument("username")
    p_user.add_argument("--role", required=True, choices=["admin", "manager", "hr"])
    p_user.add_argument("--region", required=True, metavar="CODE", help="region code of the account's scope")
    p_user.add_argument("--name", help="display name")

    for ref_kind, what in (("regions", "the region tree"), ("teams", "teams"), ("staff", "staff")):
        p_ref = sub.add_parser(ref_kind, help=f"import or export {what} (CSV/XLSX, UTF-8 or GBK)")
        ref_sub = p_ref.add_subparsers(dest="action", required=True)
        p_ri = ref_sub.add_parser("import", help="add and update by code, in one transaction (all or nothing)")
        p_ri.add_argument("file")
        p_ri.add_argument("--sheet", help="worksheet of an XLSX file (default: the first)")
        p_ri.add_argument("--dry-run", action="store_true", help="check and show the changes, write nothing")
        p_ri.add_argument("--user", help="who is importing (audit trail); default: the OS user")
        p_ri.add_argument("--lang", choices=["zh-CN", "en"], help="language of messages (default: from LANG)")
        p_re = ref_sub.add_parser("export", help="write the stored rows in the import format")
        p_re.add_argument("file")
        p_re.add_argument("--user", help="who is exporting (audit trail); default: the OS user")

    p_set = sub.add_parser("settings", help="show or change a site setting (e.g. site.timezone)")
    set_sub = p_set.add_subparsers(dest="action", required=True)
    p_get = set_sub.add_parser("get", help="print one setting, or all")
    p_get.add_argument("key", nargs="?")
    p_put = set_sub.add_parser("set", help="change a setting, e.g. settings set site.timezone America/Chicago")
    p_put.add_argument("key")
    p_put.add_argument("value")
    p_put.add_argument("--user", help="who is changing it (audit trail); default: the OS user")

    args = parser.parse_args(argv)
    if args.command in ("backup", "restore"):
        return _backup(args)
    if args.command == "mapping" and args.action in ("check", "schema"):
        return _mapping_file(args)
    try:
        engine = get_engine(check=True)
        from data.schema import upgrade

        head = upgrade(engine)
        if args.command == "init":
            print(f"database {masked(database_url())} at schema revision {head}", file=sys.stderr)
            if args.demo_if_empty:
                return _demo(engine, args.demo_if_empty, args.seed, if_empty=True)
            return 0
        if args.command == "demo":
            return _demo(engine, args.size, args.seed, replace=args.replace)
        if args.command in ("import", "export"):
            return _io(engine, args, parser)
        if args.command == "mapping":
            return _mapping(engine, args)
        if args.command == "user-add":
            return _user_add(engine, args)
        if args.command == "settings":
            return _settings(engine, args)
        if args.command in ("regions", "teams", "staff"):
            return _reference(engine, args)
    except DatabaseConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _io(engine, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:  # type: ignore[no-untyped-def]
    """``import`` / ``export``: one line on stderr for an error (exit 2), the JSON summary last on stdout."""
    import getpass
    import json
    import os

    from sqlalchemy.exc import SQLAlchemyError

    from data.io import FileError, export_all, export_table, import_all, import_file

    lang = args.lang or ("zh-CN" if os.environ.get("LANG", "").lower().startswith("zh") else "en")
    try:
        user = args.user or f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "cli"

    def fail(exc: FileError, extra: dict[str, object] | None = None) -> int:
        print(f"error: {exc.message(lang)}", file=sys.stderr)
        print(json.dumps({"imported": 0, "updated": 0, "unchanged": 0, "rejected": 0, "rejects_file": None,
                          "seconds": 0, **(extra or {}), "error": exc.code, "message": exc.message(lang)},
                         ensure_ascii=False))
        return 2

    try:
        if args.command == "import":
            if args.all:
                counts = import_all(engine, args.all, user=user)
                print(json.dumps({"tables": counts}, ensure_ascii=False))
                return 0
            if not args.kind or not args.file:
                parser.error("import needs KIND FILE, or --all DIR")
            res = import_file(engine, args.kind, args.file, args.mapping, sheet=args.sheet, user=user,
                              rejects_path=args.rejects, dry_run=args.dry_run)
            if res.error is not None:
                return fail(res.error, {"kind": args.kind, "file": res.file, "mapping": res.mapping})
            for note in res.note_texts(lang):  # the rules applied and the assumptions made, readable
                print(f"note: {note}", file=sys.stderr)
            print(json.dumps(res.summary(lang), ensure_ascii=False))
            return res.exit_code
        if args.all:
            manifest = export_all(engine, args.out, user=user)
            print(json.dumps({"dir": args.out, "tables": {k: v["rows"] for k, v in manifest["tables"].items()}},
                             ensure_ascii=False))
            return 0
        if not args.kind:
            parser.error("export needs KIND --out FILE, or --all --out DIR")
        info = export_table(engine, args.kind, args.out, args.start, args.end, user=user)
        print(json.dumps(info, ensure_ascii=False))
        return 0
    except FileError as exc:
        return fail(exc)
    except OSError as exc:
        return fail(FileError("unreadable", detail=f"{exc.strerror or exc}: {exc.filename or ''}"))
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        return fail(FileError("database", detail=detail))


def _os_user(given: str | None) -> str:
    import getpass

    try:
        return given or f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "cli"


def _mapping(engine, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """``mapping list | show NAME | save NAME FILE``: one line on stderr for an error (exit 2)."""
    import json
    from pathlib import Path

    from data.io import FileError
    from data.io.mapping import MAPPINGS_DIR, load, shipped
    from data.repositories import mappings as saved

    try:
        if args.action == "list":
            print(f"{'name':<32} {'kind':<10} {'source':<7} versions")
            for name in shipped(args.kind):
                print(f"{name:<32} {load(MAPPINGS_DIR / f'{name}.json').kind:<10} {'shipped':<7} -")
            by_name: dict[str, list[saved.SavedMapping]] = {}
            for m in saved.listing(engine, args.kind):
                by_name.setdefault(m.name, []).append(m)
            for name, versions in by_name.items():
                last = versions[-1]
                print(f"{name:<32} {last.kind:<10} {'saved':<7} {', '.join(str(v.version) for v in versions)} "
                      f"(newest {last.version}: {last.created_at:%Y-%m-%d %H:%M} UTC by {last.created_by or '-'})")
            return 0
        if args.action == "show":
            with saved.using(engine):
                found = saved.lookup(args.name)
            if found is not None:
                print(json.dumps(found.raw(), ensure_ascii=False, indent=2))
                return 0
            shipped_mapping = load(args.name)
            print(Path(shipped_mapping.path).read_text(encoding="utf-8"), end="")
            return 0
        try:
            body = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FileError("mapping_invalid", mapping=args.file, detail=str(exc).splitlines()[0]) from None
        if not isinstance(body, dict):
            raise FileError("mapping_invalid", mapping=args.file, detail="not a JSON object")
        m = saved.save(engine, args.name, body, _os_user(args.user))
        print(f"saved {m.ref} ({m.kind})", file=sys.stderr)
        return 0
    except FileError as exc:
        print(f"error: {exc.message('en')}", file=sys.stderr)
        return 2


def _mapping_file(args: argparse.Namespace) -> int:
    """``mapping check FILE``: one line per error (``key.path: message``) on stderr, exit 2; ``ok`` and exit 0 when
    valid. ``mapping schema``: the JSON Schema of the language."""
    from pathlib import Path

    from data.io.mapping import check_file, schema_text

    if args.action == "schema":
        if args.out:
            Path(args.out).write_text(schema_text(), encoding="utf-8")
        else:
            sys.stdout.write(schema_text())
        return 0
    errors = check_file(args.file)
    for e in errors:
        print(f"{args.file}: {e}", file=sys.stderr)
    if errors:
        return 2
    print(f"{args.file}: ok")
    return 0


def _reference(engine, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """``regions|teams|staff import FILE``: every broken rule on stderr (nothing written, exit 1), the JSON summary
    last on stdout; ``export FILE``. A file that cannot be read at all: one line, exit 2."""
    import json
    import os

    from data.io.errors import FileError
    from data.io.refdata import export_reference, import_reference

    lang = getattr(args, "lang", None) or ("zh-CN" if os.environ.get("LANG", "").lower().startswith("zh") else "en")
    try:
        if args.action == "export":
            info = export_reference(engine, args.command, args.file, user=_os_user(args.user))
            print(json.dumps(info, ensure_ascii=False))
            return 0
        res = import_reference(engine, args.command, args.file, user=_os_user(args.user), sheet=args.sheet,
                               dry_run=args.dry_run)
    except FileError as exc:
        print(f"error: {args.file}: {exc.message(lang)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for e in res.errors:
        print(e.message(lang), file=sys.stderr)
    if res.errors:
        print(f"refused: {len(res.errors)} problem(s); nothing was written", file=sys.stderr)
    for code, changes in res.updated.items():
        print(f"updated {code}: " + "; ".join(f"{f} {o!r} -> {n!r}" for f, (o, n) in changes.items()),
              file=sys.stderr)
    print(json.dumps(res.summary(lang), ensure_ascii=False, default=str))
    return res.exit_code


def _settings(engine, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """``settings get [KEY]`` prints ``key = value`` lines; ``settings set KEY VALUE`` checks, stores and audits."""
    from data.settings import SETTINGS, SettingError, all_settings, set_setting

    if args.action == "get":
        if args.key is not None and args.key not in SETTINGS:
            print(f"error: unknown setting {args.key!r}; known: {', '.join(SETTINGS)}", file=sys.stderr)
            return 2
        for key, value in all_settings(engine).items():
            if args.key is None or key == args.key:
                print(f"{key} = {value}")
        return 0
    try:
        old, new = set_setting(engine, args.key, args.value, user=_os_user(args.user))
    except SettingError as exc:
        if exc.code == "unknown_key":
            print(f"error: unknown setting {exc.key!r}; known: {', '.join(SETTINGS)}", file=sys.stderr)
        else:
            print(f"error: {exc.key}: {exc.value!r} is not a time zone this machine knows "
                  "(an IANA name such as Asia/Shanghai or America/Chicago)", file=sys.stderr)
        return 2
    print(f"{args.key} = {new}" + ("" if old == new else f" (was {old})"), file=sys.stderr)
    return 0


def _user_add(engine, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """Create one account with a policy-checked password (environment or prompt); audited as ``user_created``."""
    import getpass
    import os

    from sqlalchemy import select

    from data.models import Region
    from data.users import USERNAME_RE, PasswordPolicyError, check_password_policy, create_user

    if not USERNAME_RE.fullmatch(args.username):
        print("error: the username must be 2-64 characters: letters, digits, _ . @ -", file=sys.stderr)
        return 2
    with engine.connect() as conn:
        region_id = conn.execute(select(Region.id).where(Region.code == args.region)).scalar()
        any_region = conn.execute(select(Region.id).limit(1)).scalar() is not None
    if region_id is None:
        hint = "" if any_region else (": the database has no regions yet; import the region tree first "
                                      "(python -m data regions import FILE; a file with the province's row is enough)")
        print(f"error: no region with code {args.region!r}{hint}", file=sys.stderr)
        return 2
    password = os.environ.get("GRIDCX_NEW_PASSWORD") or getpass.getpass("password: ")
    try:
        check_password_policy(password, args.username)
    except PasswordPolicyError as exc:
        print(f"error: the password is refused by the policy ({exc.code})", file=sys.stderr)
        return 2
    try:
        create_user(engine, args.username, password, args.role, int(region_id), display_name=args.name)
    except Exception as exc:  # noqa: BLE001 - e.g. the username exists
        print(f"error: cannot create {args.username!r}: {str(getattr(exc, 'orig', exc)).splitlines()[0]}",
              file=sys.stderr)
        return 2
    print(f"created {args.role} {args.username} (scope {args.region})", file=sys.stderr)
    return 0


def _backup(args: argparse.Namespace) -> int:
    """``backup --out FILE`` / ``restore FILE``: one line on stderr, exit 2 when refused."""
    from data.backup import BackupError, backup, restore

    try:
        if args.command == "backup":
            info = backup(args.out)
            print(f"backup written: {info.path} ({info.bytes} bytes, schema {info.revision})", file=sys.stderr)
        else:
            info = restore(args.file, force_older=args.force_older)
            print(f"restored {args.file} into {info.path} (backup schema {info.revision})", file=sys.stderr)
    except (BackupError, DatabaseConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _demo(engine, size: str, seed: int, replace: bool = False, if_empty: bool = False) -> int:  # type: ignore[no-untyped-def]
    """``demo`` and ``init --demo-if-empty`` delegate to the demo package's command line (``python -m demo``). The
    import is lazy and the only one of ``demo`` in data/: the data layer itself never depends on the demo generator
    (tests/unit/test_architecture.py allows it for this command-line file alone)."""
    from demo.cli import demo_command, load_if_empty

    return load_if_empty(engine, size, seed) if if_empty else demo_command(engine, size, seed, replace=replace)


if __name__ == "__main__":
    sys.exit(main())
