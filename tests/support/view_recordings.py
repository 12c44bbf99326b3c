"""Snapshots recorded from the real test bed, written down so the views can be replayed.

Recorded from `opsconsole demo`'s stack (systemd in a container with a failed and a flapping
unit, Redis with a queue family holding failures, a Celery worker with failed tasks, Docker
with a crash-looping container) and from a second real stack (supervisord with a crashing
program, `[[process]]` entries, a crontab, PostgreSQL with a blocked session and an idle
transaction, HTTP endpoints answering 503 and 502). Each is what the backend's `collect()`
returned; machine paths were replaced by ordinary ones and long worker stats cut.
"""

# ruff: noqa: E501

from __future__ import annotations

from backends.celery.snapshot import CelerySnapshot, FailedTask, QueueDepth, Worker
from backends.cron.backend import CronSnapshot, JobState
from backends.cron.tabs import CronJob
from backends.docker.inspect import ContainerInfo, CrashLoop, HealthProbe
from backends.docker.snapshot import DockerSnapshot
from backends.host import DiskUsage, HostSnapshot
from backends.http.config import EndpointSnapshot
from backends.postgres.snapshot import PostgresSnapshot, SessionInfo, TableInfo
from backends.process import ProcessSnapshot
from backends.process.scan import ProcInfo
from backends.redis.config import QueueConfig
from backends.redis.history import Trend
from backends.redis.snapshot import FamilySnapshot, RedisSnapshot
from backends.supervisor.snapshot import ProgramState, SupervisorSnapshot
from backends.systemd.listing import SystemdSnapshot, UnitState
from console.core.loglines import LogLine

RECORDED_AT = 1796019621.0  # just after the last poll: the clock the replayed views see

# systemd:system, polled at 1796019558.6061823
SYSTEMD_SYSTEM = SystemdSnapshot(bus='unix:path=/run/dbus/system_bus_socket',
                polled_at=1796019558.6548195,
                units=(UnitState(name='demo-flappy.service',
                                 description='Demo flapping worker',
                                 load='loaded',
                                 active='activating',
                                 sub='auto-restart',
                                 active_since=1796019558.624276,
                                 changed_at=1796019558.624276,
                                 can_reload=False,
                                 triggered_by=(),
                                 triggers=(),
                                 file_state='static',
                                 service_type='simple',
                                 restarts=11,
                                 main_pid=76,
                                 memory=None,
                                 cpu_nsec=3281000,
                                 result='success',
                                 exit_status=0,
                                 last_trigger=None,
                                 next_trigger=None,
                                 triggered=None,
                                 restarts_in_window=11,
                                 cause='demo-flappy.service: Main process exited, code=exited, '
                                       'status=1/FAILURE'),
                       UnitState(name='demo-web.service',
                                 description='Demo web app',
                                 load='loaded',
                                 active='active',
                                 sub='running',
                                 active_since=1796019534.034291,
                                 changed_at=1796019534.034291,
                                 can_reload=False,
                                 triggered_by=(),
                                 triggers=(),
                                 file_state='static',
                                 service_type='simple',
                                 restarts=0,
                                 main_pid=51,
                                 memory=None,
                                 cpu_nsec=2021000,
                                 result='success',
                                 exit_status=0,
                                 last_trigger=None,
                                 next_trigger=None,
                                 triggered=None,
                                 restarts_in_window=0,
                                 cause=None),
                       UnitState(name='demo-broken.service',
                                 description='Demo records job',
                                 load='loaded',
                                 active='failed',
                                 sub='failed',
                                 active_since=1796019534.053995,
                                 changed_at=1796019534.06158,
                                 can_reload=False,
                                 triggered_by=(),
                                 triggers=(),
                                 file_state='static',
                                 service_type='simple',
                                 restarts=0,
                                 main_pid=None,
                                 memory=None,
                                 cpu_nsec=2594000,
                                 result='exit-code',
                                 exit_status=3,
                                 last_trigger=None,
                                 next_trigger=None,
                                 triggered=None,
                                 restarts_in_window=0,
                                 cause='Fatal: config missing')),
                patterns=('demo-*.service',),
                unmatched=())


# redis:demo, polled at 1796019558.6550972
REDIS_DEMO = RedisSnapshot(server='demo',
              polled_at=1796019558.656371,
              families=(FamilySnapshot(name='jobs',
                                       target='queue:demo/jobs',
                                       config=QueueConfig(name='jobs',
                                                          queue='demo:jobs:queue',
                                                          processing='demo:jobs:processing',
                                                          failed='demo:jobs:failed',
                                                          warn=30.0,
                                                          crit=1000.0,
                                                          failed_warn=None,
                                                          failed_crit=None,
                                                          growing_for=None,
                                                          stuck_for=600.0,
                                                          push='rpush',
                                                          celery=False),
                                       queue_type='list',
                                       depth=42,
                                       trend=Trend(samples=(42, 42, 42, 42),
                                                   rate_per_min=0.0,
                                                   drain_seconds=None,
                                                   growing_since=None,
                                                   processing_unchanged_since=1796019540.8033416),
                                       pending=None,
                                       processing=2,
                                       failed=5,
                                       problems=()),),
              round_trips=1,
              note='')


# celery:demo, polled at 1796019558.6565964
CELERY_DEMO = CelerySnapshot(app='demo',
               collected_at=1796019558.7083442,
               workers=(Worker(name='demo@vm',
                               online=True,
                               since=1796019533.7083442,
                               pool_size=1,
                               processed=5,
                               load=None,
                               active=0,
                               reserved=0,
                               scheduled=0,
                               queues=('celery',),
                               pool_restarts=False,
                               registered=('testbed.add', 'testbed.echo', 'testbed.fail',
                                           'testbed.flaky', 'testbed.sleep'),
                               stats=(('pid', '30154'),
                                      ('pool.implementation',
                                       'celery.concurrency.prefork:TaskPool'),
                                      ('pool.max-concurrency', '1'), ('prefetch_count', '4'),
                                      ('total.testbed.add', '2'), ('total.testbed.fail', '3'),
                                      ('uptime', '25'))),),
               tasks=(),
               queues=(QueueDepth(name='celery',
                                  waiting=0,
                                  by_priority=(0, 0, 0, 0),
                                  unacked=0,
                                  problem=None),),
               unacked_total=0,
               failed=(FailedTask(task_id='dc4bdc5f-e986-4f97-80e5-98047d0e1ea5',
                                  name='testbed.fail',
                                  failed_at=1796019535.576018,
                                  exception='ValueError: demo failure 2',
                                  traceback='Traceback (most recent call last):\n'
                                            '  File '
                                            '"/opt/shop/venv/lib/python3.11/site-packages/celery/app/trace.py", '
                                            'line 564, in trace_task\n'
                                            '    R = retval = fun(*args, **kwargs)\n'
                                            '                 ^^^^^^^^^^^^^^^^^^^^\n'
                                            '  File '
                                            '"/opt/shop/venv/lib/python3.11/site-packages/celery/app/trace.py", '
                                            'line 883, in __protected_call__\n'
                                            '    return self.run(*args, **kwargs)\n'
                                            '           ^^^^^^^^^^^^^^^^^^^^^^^^^\n'
                                            '  File "/opt/shop/shop/tasks.py", line 38, in fail\n'
                                            '    raise ValueError(msg)\n'
                                            'ValueError: demo failure 2\n',
                                  args='["demo failure 2"]',
                                  kwargs='{}',
                                  resendable=True,
                                  why_not='',
                                  worker='demo@vm',
                                  queue='celery',
                                  source='results',
                                  retried_at=None,
                                  retry_task_id=None,
                                  retry_state=None),
                       FailedTask(task_id='89116256-c494-43e0-95be-2eba45f66600',
                                  name='testbed.fail',
                                  failed_at=1796019535.507373,
                                  exception='ValueError: demo failure 1',
                                  traceback='Traceback (most recent call last):\n'
                                            '  File '
                                            '"/opt/shop/venv/lib/python3.11/site-packages/celery/app/trace.py", '
                                            'line 564, in trace_task\n'
                                            '    R = retval = fun(*args, **kwargs)\n'
                                            '                 ^^^^^^^^^^^^^^^^^^^^\n'
                                            '  File '
                                            '"/opt/shop/venv/lib/python3.11/site-packages/celery/app/trace.py", '
                                            'line 883, in __protected_call__\n'
                                            '    return self.run(*args, **kwargs)\n'
                                            '           ^^^^^^^^^^^^^^^^^^^^^^^^^\n'
                                            '  File "/opt/shop/shop/tasks.py", line 38, in fail\n'
                                            '    raise ValueError(msg)\n'
                                            'ValueError: demo failure 1\n',
                                  args='["demo failure 1"]',
                                  kwargs='{}',
                                  resendable=True,
                                  why_not='',
                                  worker='demo@vm',
                                  queue='celery',
                                  source='results',
                                  retried_at=None,
                                  retry_task_id=None,
                                  retry_state=None),
                       FailedTask(task_id='19530f91-1a87-4275-8c8b-d65d49cd4f45',
                                  name='testbed.fail',
                                  failed_at=1796019535.332854,
                                  exception='ValueError: demo failure 0',
                                  traceback='Traceback (most recent call last):\n'
                                            '  File '
                                            '"/opt/shop/venv/lib/python3.11/site-packages/celery/app/trace.py", '
                                            'line 564, in trace_task\n'
                                            '    R = retval = fun(*args, **kwargs)\n'
                                            '                 ^^^^^^^^^^^^^^^^^^^^\n'
                                            '  File '
                                            '"/opt/shop/venv/lib/python3.11/site-packages/celery/app/trace.py", '
                                            'line 883, in __protected_call__\n'
                                            '    return self.run(*args, **kwargs)\n'
                                            '           ^^^^^^^^^^^^^^^^^^^^^^^^^\n'
                                            '  File "/opt/shop/shop/tasks.py", line 38, in fail\n'
                                            '    raise ValueError(msg)\n'
                                            'ValueError: demo failure 0\n',
                                  args='["demo failure 0"]',
                                  kwargs='{}',
                                  resendable=True,
                                  why_not='',
                                  worker='demo@vm',
                                  queue='celery',
                                  source='results',
                                  retried_at=None,
                                  retry_task_id=None,
                                  retry_state=None)),
               failed_last_hour=3,
               results_note='',
               events_note='',
               inspect_note='',
               beat=None)


# docker:docker, polled at 1796019558.7117372
DOCKER_DOCKER = DockerSnapshot(host='unix:///var/run/docker.sock',
               collected_at=1796019558.720289,
               containers=(ContainerInfo(id='176aea33996b4d005c22bd23a71dbc585327efa0bb0121a8f8ddb1b8c23b18bb',
                                         name='demo-ledger',
                                         image='opsconsole-test/busybox:latest',
                                         state='restarting',
                                         health=None,
                                         health_log=(),
                                         started_at=1796019552.889626,
                                         finished_at=1796019553.945615,
                                         exit_code=1,
                                         error='',
                                         oom_killed=False,
                                         restart_count=7,
                                         restart_policy='always',
                                         mounts=(),
                                         ports=(),
                                         network_mode='none',
                                         command="sh -c echo 'Fatal: On start, ledger directory "
                                                 "/data is not empty'; sleep 1; exit 1",
                                         pid=0,
                                         usage=None,
                                         crash=CrashLoop(restarts=7,
                                                         window=600.0,
                                                         restarting=True,
                                                         lines=(LogLine(ts=1796019535.741365,
                                                                        text='Fatal: On start, '
                                                                             'ledger directory '
                                                                             '/data is not empty',
                                                                        level='fatal',
                                                                        source='stdout'),
                                                                LogLine(ts=1796019538.018372,
                                                                        text='Fatal: On start, '
                                                                             'ledger directory '
                                                                             '/data is not empty',
                                                                        level='fatal',
                                                                        source='stdout'),
                                                                LogLine(ts=1796019540.132255,
                                                                        text='Fatal: On start, '
                                                                             'ledger directory '
                                                                             '/data is not empty',
                                                                        level='fatal',
                                                                        source='stdout'),
                                                                LogLine(ts=1796019542.555658,
                                                                        text='Fatal: On start, '
                                                                             'ledger directory '
                                                                             '/data is not empty',
                                                                        level='fatal',
                                                                        source='stdout'),
                                                                LogLine(ts=1796019544.82286,
                                                                        text='Fatal: On start, '
                                                                             'ledger directory '
                                                                             '/data is not empty',
                                                                        level='fatal',
                                                                        source='stdout'),
                                                                LogLine(ts=1796019548.095805,
                                                                        text='Fatal: On start, '
                                                                             'ledger directory '
                                                                             '/data is not empty',
                                                                        level='fatal',
                                                                        source='stdout'),
                                                                LogLine(ts=1796019552.886161,
                                                                        text='Fatal: On start, '
                                                                             'ledger directory '
                                                                             '/data is not empty',
                                                                        level='fatal',
                                                                        source='stdout')))),
                           ContainerInfo(id='f92e6b1f761e8f7b8cf8c85945839965149d00fa137a28ec19fcaf96510b008d',
                                         name='demo-web',
                                         image='opsconsole-test/busybox:latest',
                                         state='running',
                                         health='healthy',
                                         health_log=(HealthProbe(ended=1796019553.355665,
                                                                 exit_code=0,
                                                                 output=''),
                                                     HealthProbe(ended=1796019554.460251,
                                                                 exit_code=0,
                                                                 output=''),
                                                     HealthProbe(ended=1796019555.557904,
                                                                 exit_code=0,
                                                                 output=''),
                                                     HealthProbe(ended=1796019556.644271,
                                                                 exit_code=0,
                                                                 output=''),
                                                     HealthProbe(ended=1796019557.735446,
                                                                 exit_code=0,
                                                                 output='')),
                                         started_at=1796019534.936167,
                                         finished_at=None,
                                         exit_code=0,
                                         error='',
                                         oom_killed=False,
                                         restart_count=0,
                                         restart_policy='unless-stopped',
                                         mounts=(),
                                         ports=(),
                                         network_mode='host',
                                         command='sh -c mkdir -p /www && echo ok > /www/health && '
                                                 'exec httpd -f -p 127.0.0.1:59135 -h /www',
                                         pid=30377,
                                         usage=None,
                                         crash=None)),
               missing=(),
               unmatched=(),
               volumes=(),
               events_connected=None)


# host:vm, polled at 1796019558.8868554
HOST_VM = HostSnapshot(disks=(DiskUsage(mount='/',
                              percent=23.4,
                              used=25545240576,
                              total=270553174016,
                              error=None),),
             memory_percent=6.7,
             memory_available=23577243648,
             memory_total=25276063744,
             load=(5.5205078125, 5.296875, 5.9951171875),
             cpus=2,
             listening=frozenset({1883, 2024, 3306, 4222, 4369, 5432, 5672, 6379, 25672, 34327,
                                  36203, 39949, 41389, 42917, 44707, 49955, 52503, 59135}))


# supervisor:main, polled at 1796019619.840448
SUPERVISOR_MAIN = SupervisorSnapshot(url='unix:///var/run/supervisor.sock',
                   polled_at=1796019619.844847,
                   programs=(ProgramState(name='crasher',
                                          group='crasher',
                                          state='FATAL',
                                          pid=0,
                                          started=1796019607.0,
                                          stopped=1796019608.0,
                                          now=1796019619.0,
                                          exit_status=0,
                                          spawn_error='Exited too quickly (process log may have '
                                                      'details)',
                                          description='Exited too quickly (process log may have '
                                                      'details)',
                                          stderr_tail=('Fatal: ledger directory already exists',
                                                       'Fatal: ledger directory already exists',
                                                       'Fatal: ledger directory already exists')),
                             ProgramState(name='idle',
                                          group='idle',
                                          state='STOPPED',
                                          pid=0,
                                          started=None,
                                          stopped=None,
                                          now=1796019619.0,
                                          exit_status=0,
                                          spawn_error='',
                                          description='Not started',
                                          stderr_tail=()),
                             ProgramState(name='steady',
                                          group='steady',
                                          state='RUNNING',
                                          pid=3093,
                                          started=1796019604.0,
                                          stopped=None,
                                          now=1796019619.0,
                                          exit_status=0,
                                          spawn_error='',
                                          description='pid 3093, uptime 0:00:15',
                                          stderr_tail=())),
                   patterns=('*',))


# process:steady-sleeper, polled at 1796019619.8449378
PROCESS_STEADY_SLEEPER = ProcessSnapshot(name='steady-sleeper',
                pattern='sleep 3600',
                polled_at=1796019619.9470558,
                processes=(ProcInfo(pid=3093,
                                    user='root',
                                    command='sleep 3600',
                                    started=1796019603.46,
                                    cpu_percent=0.0,
                                    rss=1830912),),
                restarted_at=None)


# process:crawl-scheduler, polled at 1796019619.9472191
PROCESS_CRAWL_SCHEDULER = ProcessSnapshot(name='crawl-scheduler',
                pattern='manage.py run_crawl_scheduler',
                polled_at=1796019620.0056968,
                processes=(),
                restarted_at=None)


# cron:shop, polled at 1796019620.0057962
CRON_SHOP = CronSnapshot(name='shop',
             polled_at=1796019620.005838,
             daemon_pids=(26476,),
             files=('/etc/cron.d/shop',),
             jobs=(JobState(job=CronJob(name='shop:2',
                                        file='/etc/cron.d/shop',
                                        line=2,
                                        schedule='*/5 * * * *',
                                        user='root',
                                        command='/opt/shop/bin/sync-prices',
                                        shell_command='/opt/shop/bin/sync-prices',
                                        stdin='',
                                        reboot=False),
                            grace=300.0,
                            created=1796019608.4962206,
                            last_run=None,
                            previous_due=1796019300.0,
                            next_due=1796019900.0),
                   JobState(job=CronJob(name='shop:3',
                                        file='/etc/cron.d/shop',
                                        line=3,
                                        schedule='30 2 * * *',
                                        user='postgres',
                                        command='pg_dump shop > /var/backups/shop.sql',
                                        shell_command='pg_dump shop > /var/backups/shop.sql',
                                        stdin='',
                                        reboot=False),
                            grace=300.0,
                            created=1796019608.4962206,
                            last_run=None,
                            previous_due=1796005800.0,
                            next_due=1796092200.0)),
             problems=(),
             record_error="no journal files in /var/log/journal or /run/log/journal: cron's runs "
                          'cannot be read (set journal_dir, or run journald)',
             record_since=1795846820.005838)


# postgres:shop, polled at 1796019620.0427587
POSTGRES_SHOP = PostgresSnapshot(collected_at=1796019620.0698395,
                 version='15.20 (Debian 15.20-0+deb12u1)',
                 uptime=13.045281,
                 in_recovery=False,
                 database='shop',
                 size=9428327,
                 max_connections=50,
                 user='postgres',
                 replication_lag=None,
                 replicas=(),
                 tables=(TableInfo(schema='public',
                                   name='orders',
                                   size=1392640,
                                   locked=False,
                                   live_rows=17143,
                                   dead_rows=2857,
                                   last_vacuum=None,
                                   last_analyze=None),
                         TableInfo(schema='public',
                                   name='customers',
                                   size=262144,
                                   locked=False,
                                   live_rows=3000,
                                   dead_rows=0,
                                   last_vacuum=None,
                                   last_analyze=None)),
                 connections=(('active', 3), ('idle', 2), ('idle in transaction', 1)),
                 sessions=(SessionInfo(pid=3261,
                                       user='postgres',
                                       database='shop',
                                       application='psql',
                                       client='local',
                                       state='idle in transaction',
                                       query_seconds=12.650354,
                                       xact_seconds=12.650564,
                                       wait='Client:ClientRead',
                                       blocked_by=(),
                                       blocking=True,
                                       query="UPDATE customers SET name = 'x' WHERE id = 1;"),
                           SessionInfo(pid=3306,
                                       user='postgres',
                                       database='shop',
                                       application='psql',
                                       client='local',
                                       state='active',
                                       query_seconds=11.645743,
                                       xact_seconds=11.645743,
                                       wait='Lock:transactionid',
                                       blocked_by=(3261,),
                                       blocking=False,
                                       query="UPDATE customers SET name = 'y' WHERE id = 1")),
                 unused_indexes=(),
                 cache_hit=0.9979515939780841,
                 statements=None,
                 slots=(),
                 backups=(),
                 backup_dir='',
                 panels_off=())


# http:api, polled at 1796019620.0702949
HTTP_API = EndpointSnapshot(url='http://127.0.0.1:41051/db-down',
                 checked_at=1796019620.0878072,
                 status_code=503,
                 latency=0.0174242189996221,
                 error=None,
                 mismatch=None,
                 said='database connection refused',
                 headers=(('server', 'BaseHTTP/0.6 Python/3.11.7'),
                          ('content-type', 'application/json')),
                 body='{"status": "error", "detail": "database connection refused", "checks": '
                      '{"db": "down"}}',
                 cert=None)


# http:gateway, polled at 1796019620.08798
HTTP_GATEWAY = EndpointSnapshot(url='http://127.0.0.1:41051/gateway',
                 checked_at=1796019620.092807,
                 status_code=502,
                 latency=0.0047869350000837585,
                 error=None,
                 mismatch=None,
                 said='\\x1b]0;pwned\\x07Bad Gateway: upstream app:8000 is not answering',
                 headers=(('server', 'BaseHTTP/0.6 Python/3.11.7'),
                          ('content-type', 'application/json')),
                 body='\\n\\x1b]0;pwned\\x07Bad Gateway: upstream app:8000 is not '
                      'answering\\nretry later\\n',
                 cert=None)


# http:health, polled at 1796019620.0930057
HTTP_HEALTH = EndpointSnapshot(url='http://127.0.0.1:41051/ok',
                 checked_at=1796019620.09732,
                 status_code=200,
                 latency=0.004284063000341121,
                 error=None,
                 mismatch=None,
                 said=None,
                 headers=(),
                 body='',
                 cert=None)
