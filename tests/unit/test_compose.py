"""The split-mode deployment agrees with the code, the README and itself.

No Docker engine is needed. docker-compose.yml is validated against the
Compose Specification schema in data/compose-spec.json: the one docker-compose
1.29.2 ships as compose/config/compose_spec.json (Apache License 2.0),
unchanged. It is older than today's specification, so a file it accepts also
runs on older Compose releases. The rest checks what a schema cannot: that
every service in `services.SERVICES` runs, is routed and waits for what it
needs, that the profiles are complete, and that the image installs the
project the way the Makefile does.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from services import SERVICES
from sotay.settings import Settings

try:
    import yaml
except ModuleNotFoundError:
    pytest.fail("tests/unit/test_compose.py reads docker-compose.yml with PyYAML (`pyyaml`, a test extra): "
                "pip install --require-hashes -r requirements-test.lock", pytrace=False)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("data") / "compose-spec.json"
NATS_CONFIG = "./deploy/nats/nats-server.conf"
NATS_AUTH = "./deploy/nats/auth.conf"
ROLES_SQL = "./deploy/postgres/roles.sql"
PROXY_CONFIG = "./deploy/proxy/nginx.conf"
CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")
SERVICE_PORT = 8000

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CONTAINERS: dict[str, dict] = COMPOSE["services"]


# --- reading the files ------------------------------------------------------------


def command(name: str) -> list[str]:
    cmd = CONTAINERS[name].get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def environment(name: str) -> dict[str, str | None]:
    env = CONTAINERS[name].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: None if value is None else str(value) for key, value in env.items()}


def depends_on(name: str) -> dict[str, str]:
    """Each dependency and its condition."""
    deps = CONTAINERS[name].get("depends_on", {})
    if isinstance(deps, list):
        return {dep: "service_started" for dep in deps}
    return {dep: spec.get("condition", "service_started") for dep, spec in deps.items()}


def mounts(name: str) -> dict[str, tuple[str, bool]]:
    """Each volume's target and its source, and whether it is read-only."""
    found = {}
    for volume in CONTAINERS[name].get("volumes", []):
        source, target, *mode = volume.split(":")
        found[target] = (source, mode == ["ro"])
    return found


def profiles(name: str) -> list[str]:
    return CONTAINERS[name].get("profiles", [])


def option(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} missing from {shlex.join(args)}"
    return args[args.index(flag) + 1]


def default(value: str) -> str:
    """The value Compose uses when the variable of `${VAR:-default}` is unset."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def variable(value: str) -> str | None:
    """The variable of `${VAR:-default}`."""
    match = re.fullmatch(r"\$\{(\w+):-.*\}", value)
    return match.group(1) if match else None


def sotay_containers() -> list[str]:
    """Containers running the image built from this repository."""
    return [name for name, spec in CONTAINERS.items() if "build" in spec]


def served_services() -> dict[str, str]:
    """Container → the service it runs with `sotay serve`."""
    return {name: command(name)[2] for name in sotay_containers() if command(name)[:2] == ["sotay", "serve"]}


def documented_variables() -> tuple[set[str], tuple[str, ...]]:
    """The names in README.md's configuration table, and the prefixes of the
    families it lists open-ended (`OTEL_…`, "…")."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Configuration", 1)[1].split("\n#", 1)[0]
    names, families = set(), set()
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = row.split("|")[1]
        found = re.findall(r"`([A-Z][A-Z0-9_<>]*)`", first_cell)
        for name in found:
            names.update(name.replace("<SERVICE>", service.upper()) for service in SERVICES)
        if "…" in first_cell:
            families.update(name.split("_", 1)[0] + "_" for name in found)
    return names, tuple(families)


def nginx_locations() -> dict[str, str]:
    text = (ROOT / PROXY_CONFIG).read_text()
    return {path: body for path, body in re.findall(r"location\s+(?:=\s*)?(\S+)\s*\{([^}]*)\}", text)}


def pip_installs(lines: list[str]) -> set[tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]]:
    """Each `pip install` in the shell lines as (options, requirement files,
    what it installs), leaving out output options and upgrades of pip itself;
    a path to install becomes "<project>", as it is the project wherever it
    is copied to."""
    installs = set()
    for line in lines:
        for step in line.split("&&"):
            args = shlex.split(step)
            if len(args) < 2 or not args[0].endswith("pip") or args[1] != "install":
                continue
            flags, files, targets = set(), [], []
            rest = iter(args[2:])
            for arg in rest:
                if arg in ("-r", "--requirement"):
                    files.append(Path(next(rest)).name)
                elif arg.startswith("-"):
                    flags.add(arg)
                else:
                    targets.append("<project>" if "/" in arg or arg.startswith(".") else arg)
            if targets == ["pip"]:
                continue
            installs.add((frozenset(flags - {"-q", "--quiet", "-e", "--editable"}), tuple(files), tuple(targets)))
    return installs


def dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def makefile_recipe(target: str) -> list[str]:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


# --- the compose file ------------------------------------------------------------


def test_the_compose_file_follows_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    # The draft its $schema names, spelt in a way jsonschema does not recognise.
    validator = jsonschema.Draft201909Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert not errors, "\n".join(errors)


def test_every_container_has_a_pinned_image_or_a_build_of_this_repository():
    for name, spec in CONTAINERS.items():
        if "build" in spec:
            build = spec["build"] if isinstance(spec["build"], dict) else {"context": spec["build"]}
            context = ROOT / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        else:
            image = spec.get("image", "")
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} without a tag"
            assert not image.endswith(":latest"), f"{name}: {image} moves under our feet"


def test_mounted_files_and_volumes_exist():
    for name in CONTAINERS:
        for target, (source, _) in mounts(name).items():
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} mounted on {target} is missing"
            else:
                assert source in COMPOSE.get("volumes", {}), f"{name}: volume {source} is not declared"


def test_each_service_runs_in_its_own_container_named_after_it():
    served = served_services()
    assert set(served.values()) == set(SERVICES)
    for container, service in served.items():
        assert container == service, f"{container} serves {service}"
    others = {name: command(name) for name in sotay_containers() if name not in served}
    assert others == {"migrate": ["sotay", "migrate"]}


def test_services_are_built_from_the_shared_extension_field():
    shared = COMPOSE["x-sotay-service"]
    for container in served_services():
        spec = CONTAINERS[container]
        for key, value in shared.items():
            if key == "environment":
                # A service may add its own variables, e.g. SOTAY_<SERVICE>_DATABASE_URL.
                assert value.items() <= spec[key].items(), container
            else:
                assert spec.get(key) == value, f"{container}: {key}"


def test_services_start_after_nats_is_healthy_and_migrations_are_done():
    # migrate creates the streams and consumers, too.
    assert depends_on("migrate") == {"postgres": "service_healthy", "nats": "service_healthy"}
    for container in served_services():
        deps = depends_on(container)
        assert deps.get("nats") == "service_healthy", container
        assert deps.get("migrate") == "service_completed_successfully", container


def test_dependencies_exist_and_their_conditions_can_be_met():
    for name in CONTAINERS:
        for dep, condition in depends_on(name).items():
            assert dep in CONTAINERS, f"{name} depends on unknown {dep}"
            assert set(profiles(dep)) <= set(profiles(name)), \
                f"{name} would not start without the profile of {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in CONTAINERS[dep], f"{name} waits for {dep} to be healthy: it has no healthcheck"
            if condition == "service_completed_successfully":
                assert CONTAINERS[dep].get("restart", "no") in ("no", "on-failure"), \
                    f"{name} waits for {dep} to complete, which it restarts instead"


def test_long_running_containers_have_healthchecks():
    for name in ("nats", "postgres", "proxy", *CLUSTER_NODES, *served_services()):
        check = CONTAINERS[name].get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_services_report_health_from_readyz_without_curl():
    for container in served_services():
        test = " ".join(CONTAINERS[container]["healthcheck"]["test"])
        assert "python" in test and f":{SERVICE_PORT}/readyz" in test, container


def test_services_share_the_servers_and_the_keys():
    postgres = environment("postgres")
    for container in sotay_containers():
        env = environment(container)
        assert default(env["SOTAY_NATS_URL"]) == "nats://nats:4222", container
        url = urlsplit(env["SOTAY_DATABASE_URL"])
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432), container
        assert url.path == f"/{postgres['POSTGRES_DB']}", container
        assert env["SOTAY_HTTP_HOST"] == "0.0.0.0", container
        # Settings.keys_dir: the keys live in the data dir's keys/.
        keys = f"{env['SOTAY_DATA_DIR']}/keys"
        assert mounts(container).get(keys) == ("sotay-keys", False), container


def role_of(container: str) -> str:
    """The PostgreSQL role a container connects as, and the password it gives, as Compose fills them in."""
    url = urlsplit(environment(container)["SOTAY_DATABASE_URL"])
    return url.username, url.password


def test_each_service_connects_as_its_own_role_and_user_and_sets_nothing_up():
    postgres, nats = environment("postgres"), environment("nats")
    roles_sql = (ROOT / ROLES_SQL).read_text()
    auth = (ROOT / NATS_AUTH).read_text()
    for container, service in served_services().items():
        env = environment(container)
        assert env["SOTAY_SETUP_ON_START"] == "false", container
        # PostgreSQL: the role roles.sql makes for the service, with the password it is given.
        user, password = role_of(container)
        assert user == f"sotay_{service}", container
        assert f"('{service}', :'{service}_password')" in roles_sql, f"roles.sql makes no role for {service}"
        pg_variable = f"PG_{service.upper()}_PASSWORD"
        assert variable(password) == pg_variable, container
        assert password == postgres[pg_variable], f"{container} and postgres disagree on {pg_variable}"
        # NATS: the service's user of auth.conf, its password from the variable nats is given.
        assert env["SOTAY_NATS_USER"] == service, container
        nats_variable = f"NATS_{service.upper()}_PASSWORD"
        assert re.search(rf"\{{user: {service}, password: \${nats_variable}\b", auth), f"auth.conf: no user {service}"
        assert env["SOTAY_NATS_PASSWORD"] == nats[nats_variable], f"{container} and nats disagree on {nats_variable}"
    # migrate sets up: the owner role and the NATS admin.
    migrate = environment("migrate")
    assert role_of("migrate") == ("sotay_owner", postgres["PG_OWNER_PASSWORD"])
    assert migrate["SOTAY_NATS_USER"] == "admin" and migrate["SOTAY_NATS_PASSWORD"] == nats["NATS_ADMIN_PASSWORD"]
    assert migrate.get("SOTAY_SETUP_ON_START", "true") != "false"
    assert re.search(r"\{user: admin, password: \$NATS_ADMIN_PASSWORD\}", auth)
    # Every district system migrate makes consumers for has its user.
    for code in filter(None, migrate.get("SOTAY_DISTRICT_CONSUMERS", "").split(",")):
        assert f'{{user: "district-{code}", password: $NATS_DISTRICT_{code.upper().replace("-", "_")}_PASSWORD' in auth
    # The roles are made when the database is, before anyone connects.
    assert mounts("postgres")["/docker-entrypoint-initdb.d/10-sotay-roles.sql"] == (ROLES_SQL, True)
    # Every password the server configuration reads is given to every NATS node, with a default.
    needed = set(re.findall(r"password: \$(\w+)", auth))
    for node in ("nats", *CLUSTER_NODES):
        given = environment(node)
        assert needed == set(given), node
        for name, value in given.items():
            assert variable(value) == name and default(value), f"{node}: {name}"


def test_service_variables_are_settings_documented_in_the_readme():
    documented, families = documented_variables()
    for container in sotay_containers():
        for name in environment(container):
            assert name in documented or name.startswith(families), \
                f"{container}: {name} is not in README.md's configuration table"
            if name.startswith("SOTAY_"):
                assert name.removeprefix("SOTAY_").lower() in Settings.model_fields, f"{container}: {name}"


def test_nats_runs_jetstream_from_the_shared_config():
    args = command("nats")
    assert "-js" in args and option(args, "-sd") == "/data"
    config = option(args, "--config")
    assert mounts("nats")[config] == (NATS_CONFIG, True)
    assert mounts("nats")["/data"][0] == "nats-data"
    text = (ROOT / NATS_CONFIG).read_text()
    # The users, beside the configuration that includes them.
    assert re.search(r"^include\s+\.?/?auth\.conf\s*$", text, re.MULTILINE)
    assert mounts("nats")[str(Path(config).parent / "auth.conf")] == (NATS_AUTH, True)
    assert re.search(r"^\s*jetstream\s*(\{|:\s*(enabled|true))", text, re.MULTILINE), "JetStream is off"
    assert re.search(r"^\s*http_port\s*[:=]?\s*8222\b", text, re.MULTILINE), "no monitoring port"
    test = " ".join(CONTAINERS["nats"]["healthcheck"]["test"])
    assert ":8222/healthz?js-enabled-only=true" in test


def test_the_proxy_routes_each_service_and_listens_on_8080():
    assert mounts("proxy")["/etc/nginx/nginx.conf"] == (PROXY_CONFIG, True)
    assert "8080:8080" in CONTAINERS["proxy"]["ports"]
    assert re.search(r"^\s*listen\s+8080;", (ROOT / PROXY_CONFIG).read_text(), re.MULTILINE)
    locations = nginx_locations()
    for service in SERVICES:
        body = locations.get(f"/api/{service}/")
        assert body is not None, f"the proxy has no location /api/{service}/"
        assert "proxy_pass" in body and f"http://{service}:{SERVICE_PORT}" in body, body
    assert set(depends_on("proxy")) == set(SERVICES)


def test_the_cluster_profile_forms_one_jetstream_cluster():
    assert {name for name in CONTAINERS if "cluster" in profiles(name)} == set(CLUSTER_NODES)
    cluster_names = set()
    for node in CLUSTER_NODES:
        args = command(node)
        assert "-js" in args, node
        assert option(args, "--name") == node
        cluster_names.add(option(args, "--cluster_name"))
        routed = {urlsplit(route).hostname for route in option(args, "--routes").split(",")}
        assert routed == set(CLUSTER_NODES), node
        assert mounts(node)[option(args, "--config")] == (NATS_CONFIG, True)
        assert mounts(node)[str(Path(option(args, "--config")).parent / "auth.conf")] == (NATS_AUTH, True)
        assert mounts(node)[option(args, "-sd")][0] == f"{node}-data"
        test = " ".join(CONTAINERS[node]["healthcheck"]["test"])
        assert test.endswith(":8222/healthz"), f"{node} is healthy before its cluster has a JetStream leader"
    assert len(cluster_names) == 1


def test_the_observability_profile_sends_traces_to_jaeger():
    assert {name for name in CONTAINERS if "observability" in profiles(name)} == {"otel-collector", "jaeger"}
    assert CONTAINERS["otel-collector"]["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert CONTAINERS["jaeger"]["image"].startswith("jaegertracing/all-in-one:")
    variable = option([arg for part in command("otel-collector") for arg in part.split("=", 1)], "--config")
    config = yaml.safe_load(environment("otel-collector")[variable.removeprefix("env:")])
    pipeline = config["service"]["pipelines"]["traces"]
    for exporter in pipeline["exporters"]:
        assert exporter.split("/")[0] == "otlp", exporter
        assert config["exporters"][exporter]["endpoint"].split(":")[0] == "jaeger"
    receiver_port = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    for container in sotay_containers():
        env = environment(container)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{receiver_port}", container
        assert env["OTEL_TRACES_EXPORTER"] == "${OTEL_TRACES_EXPORTER:-none}", container


def test_the_operators_page_describes_every_container():
    page = (ROOT / "deploy" / "README.md").read_text()
    for name in CONTAINERS:
        assert f"`{name}`" in page, f"deploy/README.md does not say what {name} does"
    assert "x-sotay-service" in page


# --- the image ------------------------------------------------------------------


def test_the_image_installs_the_project_as_the_makefile_does():
    runs = [args for keyword, args in dockerfile() if keyword == "RUN"]
    assert pip_installs(runs) == pip_installs(makefile_recipe("$(BIN)/sotay"))
    copied = " ".join(args for keyword, args in dockerfile() if keyword == "COPY")
    assert "requirements.lock" in copied


def test_the_image_holds_every_package_of_the_project():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = {Path(args.split()[0]).name for keyword, args in dockerfile()
              if keyword == "COPY" and not args.startswith("--from")}
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert pattern.rstrip("*") in copied, f"the Dockerfile does not copy {pattern}"


def test_the_image_runs_sotay_up_on_python_311_slim_as_a_user():
    instructions = dockerfile()
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image runs as root"
    assert not [args for keyword, args in instructions if keyword == "ENTRYPOINT"]
    assert [json.loads(args) for keyword, args in instructions if keyword == "CMD"] == [["sotay", "up"]]


def test_the_build_context_leaves_out_local_state():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".sotay"} <= ignored


def test_the_proxy_serves_the_pages_from_the_repository():
    assert mounts("proxy")["/srv/web"][0] == "./web"
    conf = (ROOT / "deploy" / "proxy" / "nginx.conf").read_text()
    assert "location = /dashboard" in conf and "try_files /dashboard.html" in conf
    assert "location = /" in conf and "try_files /index.html" in conf and "try_files $uri.html" in conf
    from sotay.pages import PAGES
    for route, name in PAGES.items():  # every page sotay serves is a file the proxy can serve too
        assert (ROOT / "web" / name).is_file(), name
        if route.startswith("/console/") and route != "/console/":
            assert f"{route}.html" == f"/{name}"
