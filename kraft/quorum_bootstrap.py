"""Finding the voters from `controller.quorum.bootstrap.servers` (KIP-853, KIP-919).

A broker-only node configured with controller.quorum.bootstrap.servers and no
recorded voter set (Kafka's brokers are formatted without one) asks the
bootstrap servers, in turn, DescribeCluster for controller endpoints: any
controller answers with every registered controller (KIP-919, once the
controllers have registered with the active one; until then the answer is
empty and the node asks again) and its controller endpoint. The node then
fetches the metadata log from them as an observer and reaches the active
controller through them, as with controller.quorum.voters; which of them are
voters the log tells (its VotersRecord). A
controller formatted --no-initial-controllers does the same to join as an
observer; voters added later are learnt from the log (their VotersRecord
endpoints, `RaftNode.voter_addresses`).
"""

from __future__ import annotations

import logging

import trio
from kio.schema.errors import ErrorCode

from kraft.net.api_keys import ApiKey
from kraft.net.client import ConnectionFailed, KafkaClient, RequestNotSent, RequestTimedOut
from kraft.net.codec import request_type
from kraft.net.messages import build

log = logging.getLogger("kraft.node")

CONTROLLERS = 2  # DescribeCluster endpoint type
REQUEST_TIMEOUT_S = 5.0
RETRY_BACKOFF_S = (0.1, 2.0)  # first and largest wait between rounds


async def discover_voters(client: KafkaClient, servers: list[tuple[str, int]],
                          node_id: int = -1) -> dict[int, tuple[str, int]]:
    """{controller id: controller (host, port)} from the first bootstrap server that
    answers with a controller other than `node_id` (this node: a restarted
    controller finds its own earlier registration); retries every server, with
    backoff, until one does (a broker waits for its controllers, as Kafka's
    does). Cancel to give up."""
    request = build(request_type(ApiKey.DESCRIBE_CLUSTER, 1),
                    include_cluster_authorized_operations=False, endpoint_type=CONTROLLERS)
    wait = RETRY_BACKOFF_S[0]
    rounds = 0
    while True:
        problems = []
        for address in servers:
            try:
                with trio.fail_after(REQUEST_TIMEOUT_S * 2):
                    response = await client.request(address, request, timeout=REQUEST_TIMEOUT_S)
            except (ConnectionFailed, RequestNotSent, RequestTimedOut, trio.TooSlowError) as e:
                problems.append(f"{address[0]}:{address[1]}: {e or 'no answer'}")
                continue
            voters = {n.broker_id: (n.host, n.port) for n in response.brokers
                      if n.broker_id != node_id}
            if response.error_code == ErrorCode.none and voters:
                log.info("voters from controller.quorum.bootstrap.servers: %s",
                         ", ".join(f"{i}@{h}:{p}" for i, (h, p) in sorted(voters.items())))
                return voters
            problems.append(f"{address[0]}:{address[1]}: {response.error_code.name}")
        rounds += 1
        if rounds == 1 or rounds % 10 == 0:
            log.warning("no controller in controller.quorum.bootstrap.servers answered yet "
                        "(%s); retrying", "; ".join(problems))
        await trio.sleep(wait)
        wait = min(wait * 2, RETRY_BACKOFF_S[1])
