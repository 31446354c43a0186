"""Federation: peer nodes and pulling from them over TAXII 2.1 (DESIGN §6).

``Federation`` (in ``peers``) is the service the CLI and REST call; ``pull``
stores pages through the normal intake path; ``client`` speaks TAXII 2.1.
"""

from bayanihan.federation.peers import Federation, PeerView
from bayanihan.federation.pull import PullResult

__all__ = ["Federation", "PeerView", "PullResult"]
