/**
 * A static inotify watcher for a FROM-scratch container (the guest image's
 * busybox has no inotifyd, and inotifywait needs its libraries): watches the
 * folder in argv[1] and prints one line per event, "ATTRIB NAME", "MODIFY NAME"
 * or "OTHER NAME", flushed at once so `docker logs` shows it.
 */
export const INOTIFY_WATCH_C = `
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = inotify_init();
  if (fd < 0 || inotify_add_watch(fd, argv[1], IN_ATTRIB | IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE) < 0) { perror("inotify"); return 1; }
  printf("WATCHING %s\\n", argv[1]);
  fflush(stdout);
  char buf[65536] __attribute__((aligned(8)));
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return 1;
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *e = (struct inotify_event *)p;
      const char *what = (e->mask & IN_ATTRIB) ? "ATTRIB" : (e->mask & IN_MODIFY) ? "MODIFY" : "OTHER";
      printf("%s %s\\n", what, e->len ? e->name : "");
      fflush(stdout);
      p += sizeof *e + e->len;
    }
  }
}
`;
