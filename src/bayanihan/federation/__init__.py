"""Federation: peer nodes, pulling from them and pushing to them over TAXII 2.1 (DESIGN §6).

``Federation`` (in ``peers``) is the service the CLI and REST call; ``pull``
stores pages through the normal intake path; ``push`` sends what the policy lets
a peer receive through a durable outbox; ``client`` speaks TAXII 2.1.
"""

from bayanihan.federation.peers import Federation, OutboxView, PeerView, SyncResult
from bayanihan.federation.pull import PullResult
from bayanihan.federation.push import PushResult

__all__ = ["Federation", "OutboxView", "PeerView", "PullResult", "PushResult", "SyncResult"]
