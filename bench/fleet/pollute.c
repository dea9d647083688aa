/* Cache pressure for bench/fleet/real_agents.py --cache-pressure MB: streams through a buffer
 * larger than the caches, one write per 64-byte line, until killed. Run at nice 19, one per
 * CPU, it keeps every level of cache equally cold for the agents at every N, so that what is
 * left of a change in per-agent CPU with N is the agents' own (bench/RESULTS.md, "Fleet:
 * per-agent CPU under equal cache pressure"). */
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  size_t n = (argc > 1 ? strtoul(argv[1], 0, 10) : 512) << 20;
  volatile char *b = malloc(n);
  if (!b) return 1;
  memset((char *)b, 1, n);
  for (;;)
    for (size_t i = 0; i < n; i += 64) b[i]++;
}
