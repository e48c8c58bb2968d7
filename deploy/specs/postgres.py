"""Pure builders of the in-cluster PostgreSQL: its inputs, the server's container and pod, the
StatefulSet spec, and the optional backup CronJob's pod (deploy/postgres.py registers them)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from deploy.specs.names import POSTGRES_PORT, POSTGRES_SERVICE, POSTGRES_UID, POSTGRES_USER
from deploy.specs.placement import PodPlacement
from deploy.specs.pods import (
    POSTGRES_GRACE_SECONDS,
    Probes,
    container,
    container_security_context,
    empty_dir,
    env_vars,
    exec_probe,
    guaranteed_resources,
    mount,
    pod_template,
    secret_volume,
)

BACKUP = "postgres-backup"  # component and name of the backup CronJob, its pods and volume
BACKUP_CPU, BACKUP_MEMORY = "100m", "256Mi"
# A dump is written under a temporary name and renamed once complete, so a failed run never
# leaves a truncated file that looks like a backup; then only the newest $KEEP are kept.
BACKUP_SCRIPT = (
    "set -eu; name=/backup/fwcap-$(date -u +%Y%m%dT%H%M%SZ).sql; "
    'pg_dumpall --clean --if-exists > "$name.partial"; gzip "$name.partial"; '
    'mv "$name.partial.gz" "$name.gz"; '
    "ls -1t /backup/fwcap-*.sql.gz | tail -n +$((KEEP + 1)) | xargs -r rm -f --"
)

# The image's own layout for 18+: data under /var/lib/postgresql/<major>/docker, volume above it.
_VOLUME_PATH = "/var/lib/postgresql"
_PGDATA = "/var/lib/postgresql/18/docker"


@dataclass(frozen=True)
class PostgresBackup:
    """fwcap:postgresBackupSchedule and its volume; absent: no backup."""

    schedule: str  # cron
    storage: str  # the dumps' volume
    keep: int  # newest dumps kept


@dataclass(frozen=True)
class PostgresInputs:
    namespace: str  # for the host name in each DATABASE_URL
    frameworks: tuple[str, ...]  # one role and database each
    image: str  # pinned by digest
    cpu: str
    memory: str
    max_connections: int
    storage: str
    storage_class: str  # "": the cluster's default class
    placement: PodPlacement
    backup: PostgresBackup | None

    @property
    def host(self) -> str:
        return f"{POSTGRES_SERVICE}.{self.namespace}.svc"


def postgres_pod(
    inputs: PostgresInputs, admin_secret: pulumi.Input[str], init_secret: pulumi.Input[str]
) -> k8s.core.v1.PodTemplateSpecArgs:
    """The server, its password from `admin_secret`, the init script from `init_secret`."""
    # Over TCP on purpose: during first-start initialisation the server listens on its
    # socket only, so the pod turns ready once the real server (and the databases) are up.
    pg_isready = [
        "pg_isready", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT), "-U", POSTGRES_USER,
        "-d", "postgres",
    ]  # fmt: skip
    fast_shutdown = [
        "pg_ctl", "stop", "-D", _PGDATA, "-m", "fast", "-w",
        "-t", str(POSTGRES_GRACE_SECONDS - 10),
    ]  # fmt: skip
    server = container(
        "postgres",
        inputs.image,
        uid=POSTGRES_UID,
        cpu=inputs.cpu,
        memory=inputs.memory,
        args=["-c", f"max_connections={inputs.max_connections}"],
        ports={"postgres": POSTGRES_PORT},
        env=env_vars(
            {"POSTGRES_USER": POSTGRES_USER, "PGDATA": _PGDATA},
            secrets={"POSTGRES_PASSWORD": (admin_secret, "POSTGRES_PASSWORD")},
        ),
        probes=Probes(
            readiness=exec_probe(pg_isready, period_s=5),
            liveness=exec_probe(pg_isready, period_s=10, initial_delay_s=30),
        ),
        mounts=[
            mount("data", _VOLUME_PATH),
            mount("init", "/docker-entrypoint-initdb.d", read_only=True),
            # Read-only root: the server's socket/lock directory and scratch are emptyDirs.
            mount("run", "/var/run/postgresql"),
            mount("tmp", "/tmp"),
        ],
        # The kubelet's SIGTERM asks PostgreSQL for a "smart" shutdown, which waits for every
        # session to end - and the services' pools never end theirs, so the pod would be
        # SIGKILLed at its grace period and recover from the WAL on the next start. A fast
        # shutdown ends the sessions and checkpoints first.
        pre_stop=k8s.core.v1.LifecycleHandlerArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=fast_shutdown)
        ),
    )
    return pod_template(
        "postgres",
        POSTGRES_SERVICE,
        uid=POSTGRES_UID,
        containers=[server],
        volumes=[
            secret_volume("init", init_secret),
            empty_dir("run", "16Mi"),
            empty_dir("tmp", "256Mi"),
        ],
        placement=inputs.placement,
        grace_seconds=POSTGRES_GRACE_SECONDS,
    )


def backup_pod(
    inputs: PostgresInputs,
    backup: PostgresBackup,
    admin_secret: pulumi.Input[str],
    claim: pulumi.Input[str],
) -> k8s.core.v1.PodTemplateSpecArgs:
    """One run of BACKUP_SCRIPT: `pg_dumpall` as the superuser onto the volume claimed by
    `claim`."""
    dump = k8s.core.v1.ContainerArgs(
        name="pg-dumpall",
        image=inputs.image,
        command=["sh", "-c", BACKUP_SCRIPT],
        env=env_vars(
            {
                "PGHOST": inputs.host,
                "PGPORT": str(POSTGRES_PORT),
                "PGUSER": POSTGRES_USER,
                "KEEP": str(backup.keep),
            },
            secrets={"PGPASSWORD": (admin_secret, "POSTGRES_PASSWORD")},
        ),
        resources=guaranteed_resources(BACKUP_CPU, BACKUP_MEMORY),
        security_context=container_security_context(POSTGRES_UID),
        volume_mounts=[mount("backup", "/backup"), mount("tmp", "/tmp")],
    )
    return pod_template(
        BACKUP,
        BACKUP,
        uid=POSTGRES_UID,
        containers=[dump],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="backup",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                    claim_name=claim
                ),
            ),
            empty_dir("tmp", "64Mi"),
        ],
        placement=inputs.placement,
        restart_policy="OnFailure",
    )
