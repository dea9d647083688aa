"""The IronFlock backend side of a Reagent device session, for Outpost's issue 19 tests.

Joins a Crossbar router as a wampcra principal (authid `system`, like IronFlock's own
backend), registers the `reswarm.devices.*` procedures a device agent calls, and records
every call it gets as one JSON line in LOG. It also calls the device: each JSON line on
stdin `{"id": n, "procedure": uri, "args": [...], "kwargs": {...}}` is CALLed and its
outcome recorded as `{"result": n, "args", "kwargs"}` or `{"error": n, "uri", "args",
"kwargs"}`. A line `{"requested": [...]}` sets what
`reswarm.containers.get_requested_app_states` answers. A line `{"control": "fail_status", "on": true}` makes
`update_device_status` fail (`fail_app`: `update_app_on_device`) (an ApplicationError) until turned off again, recorded as
`{"control": ..., "on": ...}` once in effect. Reconnects when the router restarts,
re-registering everything.

Publish and subscribe (the log and terminal topics): `{"id": n, "subscribe": topic}`,
`{"id": n, "unsubscribe": topic}`, `{"id": n, "publish": topic, "args": [...]}`
(acknowledged), `{"id": n, "register": uri}` and `{"id": n, "unregister": uri}` (a
procedure of the backend's own, answering nothing) are each recorded as `{"done": n,
...}` or `{"failed": n, "why"}`; every event on a subscribed topic as `{"event": topic,
"args"}`, binary arguments as `{"bytes": text}`.

usage: reagent_backend.py URL AUTHID SECRET LOG [DENIED_ACCOUNT_KEYS (comma list)]
"""

import asyncio
import json
import os
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp import auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, RegisterOptions

URL, AUTHID, SECRET, LOG = sys.argv[1:5]
DENIED = {int(k) for k in (sys.argv[5] if len(sys.argv) > 5 else "").split(",") if k}

current = {"session": None}
# What get_requested_app_states answers (set through stdin: {"requested": [...]}).
requested = {"records": []}
subscriptions = {}
registrations = {}
# Faults the test switches on and off through stdin.
faults = {"fail_status": False, "fail_app": False}
# The procedure each fault makes fail.
FAULTS = {"fail_status": "reswarm.devices.update_device_status", "fail_app": "reswarm.containers.update_app_on_device"}


def record(obj):
    with open(LOG, "a") as f:
        f.write(json.dumps(obj) + "\n")


def check_privilege(args, kwargs):
    req = args[0] if args and isinstance(args[0], dict) else {}
    return req.get("requestor_account_key") not in DENIED


PROCEDURES = {
    "reswarm.devices.check_privilege": check_privilege,
    "reswarm.devices.update_device_status": lambda a, k: {"reswarmBaseURL": "https://studio.test"},
    "reswarm.devices.read_device_metadata": lambda a, k: {
        "device_name": "test-device",
        "swarm_name": "test-swarm",
        "ownername": "tester",
        "swarm_key": (a[0] or {}).get("swarm_key") if a and isinstance(a[0], dict) else None,
    },
    "reswarm.devices.get_app_cred_key": lambda a, k: "app-cred-key",
    "reswarm.devices.update_device_architecture": lambda a, k: None,
    "reswarm.containers.update_app_on_device": lambda a, k: None,
    "reswarm.containers.get_requested_app_states": lambda a, k: requested["records"],
}


def recorded(uri, reply):
    def handler(*args, **kwargs):
        record({"called": uri, "args": list(args), "kwargs": kwargs})
        for fault, target in FAULTS.items():
            if uri == target and faults[fault]:
                raise ApplicationError("reswarm.error.test_fault", "the test made %s fail" % uri)
        return reply(args, kwargs)

    return handler


class Backend(ApplicationSession):
    def onConnect(self):
        self.join(self.config.realm, ["wampcra"], AUTHID)

    def onChallenge(self, challenge):
        key = SECRET.encode("utf8")
        return auth.compute_wcs(key, challenge.extra["challenge"].encode("utf8")).decode("ascii")

    async def onJoin(self, details):
        for uri, reply in PROCEDURES.items():
            await self.register(recorded(uri, reply), uri, options=RegisterOptions(force_reregister=True))
        current["session"] = self
        record({"ready": details.session})

    def onLeave(self, details):
        current["session"] = None
        record({"left": str(details.reason)})
        self.disconnect()

    def onDisconnect(self):
        current["session"] = None
        current["gone"].set()


async def commands():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            # The test dropped our stdin: it is done with us.
            os._exit(0)
        cmd = json.loads(line)
        if "requested" in cmd:
            requested["records"] = cmd["requested"]
            record({"control": "requested", "id": cmd.get("id")})
            continue
        if "control" in cmd:
            faults[cmd["control"]] = bool(cmd.get("on"))
            record({"control": cmd["control"], "on": faults[cmd["control"]], "id": cmd.get("id")})
            continue
        if any(k in cmd for k in ("subscribe", "unsubscribe", "publish", "register", "unregister")):
            asyncio.ensure_future(pubsub(cmd))
            continue
        asyncio.ensure_future(call(cmd))


def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).decode("utf8", "replace")}
    return v


async def pubsub(cmd):
    from autobahn.wamp.types import PublishOptions

    session = current["session"]
    n = cmd["id"]
    if session is None:
        record({"failed": n, "why": "backend.not_joined"})
        return
    try:
        if "subscribe" in cmd:
            topic = cmd["subscribe"]

            def on_event(*args, **kwargs):
                record({"event": topic, "args": [plain(a) for a in args], "kwargs": kwargs})

            subscriptions[topic] = await session.subscribe(on_event, topic)
            record({"done": n, "subscription": subscriptions[topic].id})
        elif "unsubscribe" in cmd:
            await subscriptions.pop(cmd["unsubscribe"]).unsubscribe()
            record({"done": n})
        elif "publish" in cmd:
            pub = await session.publish(
                cmd["publish"], *cmd.get("args", []), options=PublishOptions(acknowledge=True)
            )
            record({"done": n, "publication": pub.id})
        elif "register" in cmd:
            registrations[cmd["register"]] = await session.register(lambda *a, **k: None, cmd["register"])
            record({"done": n, "registration": registrations[cmd["register"]].id})
        elif "unregister" in cmd:
            await registrations.pop(cmd["unregister"]).unregister()
            record({"done": n})
    except Exception as e:
        record({"failed": n, "why": repr(e)})


async def call(cmd):
    session = current["session"]
    if session is None:
        record({"error": cmd["id"], "uri": "backend.not_joined", "args": [], "kwargs": {}})
        return
    try:
        res = await session.call(cmd["procedure"], *cmd.get("args", []), **cmd.get("kwargs", {}))
    except ApplicationError as e:
        record({"error": cmd["id"], "uri": e.error, "args": list(e.args), "kwargs": e.kwargs or {}})
        return
    except Exception as e:  # a transport failure: the test sees it as an error line
        record({"error": cmd["id"], "uri": "backend.exception", "args": [repr(e)], "kwargs": {}})
        return
    if isinstance(res, CallResult):
        record({"result": cmd["id"], "args": list(res.results), "kwargs": res.kwresults or {}})
    elif res is None:
        record({"result": cmd["id"], "args": [], "kwargs": {}})
    else:
        record({"result": cmd["id"], "args": [res], "kwargs": {}})


async def main():
    asyncio.ensure_future(commands())
    runner = ApplicationRunner(URL, "realm1")
    # ApplicationRunner has no reconnect of its own: the router-restart test needs one.
    while True:
        current["gone"] = asyncio.Event()
        try:
            await runner.run(Backend, start_loop=False)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        await current["gone"].wait()
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main())
