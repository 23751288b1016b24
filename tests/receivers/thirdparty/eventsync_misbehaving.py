"""A receiver that breaks the contract on purpose, chosen by its target's `mode` option.

Installed beside the tutorial's receiver by test_thirdparty.py, to prove that nothing a receiver
returns or raises can put a wrong row in the ledger or touch the journal.
"""

import eventsync

OK = eventsync.DeliveryStatus.SUCCESS


class MisbehavingReceiver(eventsync.DeliveryReceiver):
    type_name = "misbehaving"

    def deliver(self, events):
        mode = self.target.options.get("mode", "raise")
        if mode == "raise":
            secret = self.target.options.get("api_token", "")
            raise RuntimeError(f"boom while holding {secret}")
        if mode == "none":
            return None
        if mode == "garbage":
            return ["x", 42, {"event_id": events[0].event_id, "status": "success"}, events]
        if mode == "bad-status":
            return [eventsync.DeliveryResult(e.event_id, "delivered-ish") for e in events]
        first, *rest = events
        return [
            eventsync.DeliveryResult(first.event_id, OK),
            eventsync.DeliveryResult(first.event_id, eventsync.DeliveryStatus.FAILED_PERMANENT),
            eventsync.DeliveryResult("01ZZZZZZZZZZZZZZZZZZZZZZZZ", OK),
            object(),
            *[eventsync.DeliveryResult(e.event_id, OK) for e in rest[1:2]],
        ]


@eventsync.hookimpl
def register_receivers(register):
    register(MisbehavingReceiver)
