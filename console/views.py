"""The console's views: key, title, and the screen class that shows them (imported lazily)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    name: str
    key: str
    title: str
    screen: str  # "module:Class"
    sections: tuple[str, ...] = ()  # config sections it shows; empty for core views
    hint: str = ""
    short: str = ""  # title on narrow terminals

    @property
    def short_title(self) -> str:
        return self.short or self.title


VIEWS: tuple[View, ...] = (
    View("overview", "1", "Overview", "screens.overview:OverviewScreen", short="All"),
    View("units", "2", "Units", "screens.units:UnitsScreen", ("systemd",),
         'add a [[systemd]] section with units = ["myapp*.service"]'),
    View("queues", "3", "Queues", "screens.queues:QueuesScreen", ("redis",),
         "add a [[redis]] section with [[redis.queues]]"),
    View("celery", "4", "Celery", "screens.celery:CeleryScreen", ("celery",),
         "add a [[celery]] section with broker = \"redis://...\""),
    View("containers", "5", "Containers", "screens.containers:ContainersScreen", ("docker",),
         'add a [[docker]] section with containers = ["name"]', "Docker"),
    View("database", "6", "Database", "screens.database:DatabaseScreen", ("postgres",),
         "add a [[postgres]] section with dsn = \"postgresql://...\"", "DB"),
    View("endpoints", "7", "Endpoints", "screens.endpoints:EndpointsScreen", ("http",),
         'add an [[http]] section with name and url = "https://.../health/"', "HTTP"),
    View("actions", "8", "Actions", "screens.actions:ActionsScreen", short="Acts"),
    View("deploy", "9", "Deploy", "screens.deploy:DeployScreen", ("deploy",),
         "add a [[deploy]] section with repo, units and health"),
    View("logs", "0", "Logs", "screens.logs:LogsScreen", ("logs",),
         'add a [[logs]] section with name and path = "/var/log/myapp/*.log"'),
)

VIEW_BY_NAME = {view.name: view for view in VIEWS}
