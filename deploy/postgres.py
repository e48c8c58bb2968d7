"""PostgreSQL for both services: one StatefulSet with a volume, a generated password, one database
per framework, and a NetworkPolicy that admits only the services (and their migration Jobs).
Its pods are built in deploy/specs/postgres.py; this component registers the objects."""

from __future__ import annotations

import functools

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from deploy.resources import add_network_policy, add_service, name_of
from deploy.specs.config_files import database_secret_name, database_url, postgres_init_sql
from deploy.specs.names import DATABASE_URL_KEY, POSTGRES_PORT, POSTGRES_SERVICE, meta, selector
from deploy.specs.network import Allow, pods
from deploy.specs.pods import volume_claim
from deploy.specs.postgres import BACKUP, PostgresBackup, PostgresInputs, backup_pod, postgres_pod


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
        self._resource_name, self._inputs, self._namespace = resource_name, inputs, namespace
        self._child = child = pulumi.ResourceOptions(parent=self)
        name = POSTGRES_SERVICE
        self.host = inputs.host

        password = random.RandomPassword(
            f"{resource_name}-password", length=32, special=False, opts=child
        )
        admin = self._secret("admin", "postgres-admin", {"POSTGRES_PASSWORD": password.result})
        role_passwords = self._roles()
        # A Secret, not a ConfigMap: the script carries the roles' passwords.
        init_sql = pulumi.Output.all(**role_passwords).apply(postgres_init_sql)
        init = self._secret("init", "postgres-init", {"10-databases.sql": init_sql})

        ports = {"postgres": POSTGRES_PORT}
        add_service(f"{resource_name}-service", namespace, "postgres", name, ports, child)
        headless = add_service(
            f"{resource_name}-headless", namespace, "postgres", name, ports, child,
            headless=True, object_name="postgres-headless",
        )  # fmt: skip
        k8s.apps.v1.StatefulSet(
            resource_name,
            metadata=meta(name, namespace, "postgres"),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=name_of(headless),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("postgres", name)),
                template=postgres_pod(inputs, name_of(admin), name_of(init)),
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
            self._backup(inputs.backup, name_of(admin))
        # Only the services, their migration Jobs (and the backup); PostgreSQL calls nobody.
        add_network_policy(
            f"{resource_name}-policy", namespace, "postgres", name, child,
            ingress=[Allow((pods(*clients),), (POSTGRES_PORT,))],
        )  # fmt: skip
        self.register_outputs({"host": self.host})

    def _secret(
        self, suffix: str, name: str, data: dict[str, pulumi.Input[str]]
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._resource_name}-{suffix}",
            metadata=meta(name, self._namespace, "postgres"),
            type="Opaque",
            string_data=data,
            opts=self._child,
        )

    def _roles(self) -> dict[str, pulumi.Output[str]]:
        """Per framework a generated password and the Secret with its DATABASE_URL; returns the
        passwords for the init script. Each service logs in as its own role, owner of its own
        database only: a compromised service cannot read the other's data or administer the
        server."""
        self.database_secrets = {}
        role_passwords: dict[str, pulumi.Output[str]] = {}
        for framework in self._inputs.frameworks:
            role_password = random.RandomPassword(
                f"{self._resource_name}-{framework}-password",
                length=32,
                special=False,
                opts=self._child,
            )
            role_passwords[framework] = role_password.result
            url = role_password.result.apply(
                functools.partial(database_url, user=framework, host=self.host, database=framework)
            )
            secret = k8s.core.v1.Secret(
                f"{self._resource_name}-db-{framework}",
                metadata=meta(database_secret_name(framework), self._namespace, "postgres"),
                type="Opaque",
                string_data={DATABASE_URL_KEY: url},
                opts=self._child,
            )
            self.database_secrets[framework] = name_of(secret)
        return role_passwords

    def _backup(self, backup: PostgresBackup, admin_secret: pulumi.Input[str]) -> None:
        """Off by default (fwcap:postgresBackupSchedule): a CronJob that writes `pg_dumpall`,
        gzipped, to a volume of its own and keeps the newest postgresBackupKeep dumps."""
        resource_name, namespace, child = self._resource_name, self._namespace, self._child
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{resource_name}-backup-data",
            metadata=meta(BACKUP, namespace, BACKUP),
            spec=volume_claim(BACKUP, BACKUP, backup.storage, self._inputs.storage_class).spec,
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=pulumi.CustomTimeouts(create="20m")
            ),
        )
        template = backup_pod(self._inputs, backup, admin_secret, name_of(claim))
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
            f"{resource_name}-backup-policy", namespace, BACKUP, BACKUP, child,
            egress=[Allow((pods("postgres"),), (POSTGRES_PORT,))],
        )  # fmt: skip
