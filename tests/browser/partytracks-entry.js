// What the partytracks test page uses of Cloudflare's client library
// `partytracks` (unmodified, from npm) and of the rxjs it is built on.
// partytracks.mjs bundles this with esbuild, in memory, into one script that
// sets `window.PT`; nothing is fetched from anywhere but the server under test.
export { PartyTracks, getCamera, getMic, createAudioSink, setLogLevel } from 'partytracks/client';
export { of } from 'rxjs';
