"""PostgreSQL for both services: one StatefulSet with a volume, a generated password, one database
per framework, and a NetworkPolicy that admits only the services (and their migration Jobs)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from deploy.resources import add_network_policy, add_service
from deploy.specs.config_files import database_secret_name, database_url, postgres_init_sql
from deploy.specs.names import (
    DATABASE_URL_KEY,
    POSTGRES_PORT,
    POSTGRES_SERVICE,
    POSTGRES_UID,
    POSTGRES_USER,
    meta,
    selector,
)
from deploy.specs.network import Allow, pods
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
    volume_claim,
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


class InClusterPostgres(pulumi.ComponentResource):
    """Exposes `database_secrets`: framework -> name of the Secret holding its DATABASE_URL."""

    database_secrets: dict[str, pulumi.Output[str]]
    host: str

    def __init__(
        self,
        resource_name: str,
        inputs: PostgresInputs,
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fwcap:deploy:Postgres", resource_name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        name = POSTGRES_SERVICE
        self.host = f"{POSTGRES_SERVICE}.{inputs.namespace}.svc"

        password = random.RandomPassword(
            f"{resource_name}-password", length=32, special=False, opts=child
        )
        admin = k8s.core.v1.Secret(
            f"{resource_name}-admin",
            metadata=meta("postgres-admin", namespace, "postgres"),
            type="Opaque",
            string_data={"POSTGRES_PASSWORD": password.result},
            opts=child,
        )
        admin_name = admin.metadata.apply(lambda m: str(m.name))
        # Each service logs in as its own role, owner of its own database only: a compromised
        # service cannot read the other's data or administer the server.
        self.database_secrets = {}
        role_passwords: dict[str, pulumi.Output[str]] = {}
        for framework in inputs.frameworks:
            role_password = random.RandomPassword(
                f"{resource_name}-{framework}-password", length=32, special=False, opts=child
            )
            role_passwords[framework] = role_password.result
            secret = k8s.core.v1.Secret(
                f"{resource_name}-db-{framework}",
                metadata=meta(database_secret_name(framework), namespace, "postgres"),
                type="Opaque",
                string_data={
                    DATABASE_URL_KEY: role_password.result.apply(
                        functools.partial(
                            database_url, user=framework, host=self.host, database=framework
                        )
                    )
                },
                opts=child,
            )
            self.database_secrets[framework] = secret.metadata.apply(lambda m: str(m.name))

        # A Secret, not a ConfigMap: the script carries the roles' passwords.
        init = k8s.core.v1.Secret(
            f"{resource_name}-init",
            metadata=meta("postgres-init", namespace, "postgres"),
            type="Opaque",
            string_data={
                "10-databases.sql": pulumi.Output.all(**role_passwords).apply(postgres_init_sql)
            },
            opts=child,
        )
        ports = {"postgres": POSTGRES_PORT}
        add_service(f"{resource_name}-service", namespace, "postgres", name, ports, child)
        headless = add_service(
            f"{resource_name}-headless",
            namespace,
            "postgres",
            name,
            ports,
            child,
            headless=True,
            object_name="postgres-headless",
        )
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
            ports=ports,
            env=env_vars(
                {"POSTGRES_USER": POSTGRES_USER, "PGDATA": _PGDATA},
                secrets={"POSTGRES_PASSWORD": (admin_name, "POSTGRES_PASSWORD")},
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
        template = pod_template(
            "postgres",
            name,
            uid=POSTGRES_UID,
            containers=[server],
            volumes=[
                secret_volume("init", init.metadata.apply(lambda m: str(m.name))),
                empty_dir("run", "16Mi"),
                empty_dir("tmp", "256Mi"),
            ],
            placement=inputs.placement,
            grace_seconds=POSTGRES_GRACE_SECONDS,
        )
        k8s.apps.v1.StatefulSet(
            resource_name,
            metadata=meta(name, namespace, "postgres"),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=headless.metadata.apply(lambda m: str(m.name)),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("postgres", name)),
                template=template,
                volume_claim_templates=[
                    volume_claim("data", "postgres", inputs.storage, inputs.storage_class)
                ],
            ),
            opts=child,
        )
        # One pod holding the only copy of the data: a voluntary eviction (a node drain, a
        # cluster upgrade) waits until someone deletes the pod on purpose - after a measurement,
        # after a backup - instead of taking the database away mid-run.
        k8s.policy.v1.PodDisruptionBudget(
            f"{resource_name}-pdb",
            metadata=meta(name, namespace, "postgres"),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                min_available=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("postgres", name)),
            ),
            opts=child,
        )
        clients: tuple[str, ...] = ("service", "migration")
        if inputs.backup:
            clients += (BACKUP,)
            self._backup(resource_name, inputs, inputs.backup, namespace, admin_name, child)
        # Only the services, their migration Jobs (and the backup); PostgreSQL calls nobody.
        add_network_policy(
            f"{resource_name}-policy",
            namespace,
            "postgres",
            name,
            child,
            ingress=[Allow((pods(*clients),), (POSTGRES_PORT,))],
        )
        self.register_outputs({"host": self.host})

    def _backup(
        self,
        resource_name: str,
        inputs: PostgresInputs,
        backup: PostgresBackup,
        namespace: pulumi.Input[str],
        admin_secret: pulumi.Input[str],
        child: pulumi.ResourceOptions,
    ) -> None:
        """Off by default (fwcap:postgresBackupSchedule): a CronJob that writes `pg_dumpall`,
        gzipped, to a volume of its own and keeps the newest postgresBackupKeep dumps."""
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{resource_name}-backup-data",
            metadata=meta(BACKUP, namespace, BACKUP),
            spec=volume_claim(BACKUP, BACKUP, backup.storage, inputs.storage_class).spec,
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=pulumi.CustomTimeouts(create="20m")
            ),
        )
        dump = k8s.core.v1.ContainerArgs(
            name="pg-dumpall",
            image=inputs.image,
            command=["sh", "-c", BACKUP_SCRIPT],
            env=env_vars(
                {
                    "PGHOST": self.host,
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
        template = pod_template(
            BACKUP,
            BACKUP,
            uid=POSTGRES_UID,
            containers=[dump],
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="backup",
                    persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                        claim_name=claim.metadata.apply(lambda m: str(m.name))
                    ),
                ),
                empty_dir("tmp", "64Mi"),
            ],
            placement=inputs.placement,
            restart_policy="OnFailure",
        )
        k8s.batch.v1.CronJob(
            f"{resource_name}-backup",
            metadata=meta(BACKUP, namespace, BACKUP),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=backup.schedule,
                concurrency_policy="Forbid",
                successful_jobs_history_limit=1,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=2, active_deadline_seconds=3600, template=template
                    )
                ),
            ),
            opts=child,
        )
        add_network_policy(
            f"{resource_name}-backup-policy",
            namespace,
            BACKUP,
            BACKUP,
            child,
            egress=[Allow((pods("postgres"),), (POSTGRES_PORT,))],
        )
