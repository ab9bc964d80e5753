"""Publish a synthetic camera and microphone to a WHIP endpoint with aiortc,
a WebRTC stack independent of libwebrtc. Used by interop.mjs.

    python aiortc_publish.py http://127.0.0.1:8080/whip/NAME
"""

import asyncio
import sys
import urllib.request

import aioice.ice

# aioice skips loopback addresses; the tests run in a namespace with only lo.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import (  # noqa: E402
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack  # noqa: E402


def post_offer(url: str, sdp: str) -> tuple[int, str, str]:
    request = urllib.request.Request(
        url, data=sdp.encode(), method="POST", headers={"Content-Type": "application/sdp"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get("Location", ""), response.read().decode()


async def main(url: str) -> None:
    pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    status, location, answer = await loop.run_in_executor(None, post_offer, url, pc.localDescription.sdp)
    if status != 201:
        raise SystemExit(f"WHIP answered {status}")
    print(f"published, resource {location}", flush=True)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    while True:
        print(f"connection {pc.connectionState}", flush=True)
        await asyncio.sleep(5)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
