#ifndef IMPULSE_CUNBOUND_SHIM_H
#define IMPULSE_CUNBOUND_SHIM_H
#include <unbound.h>
#include <unbound-event.h>
#include <sys/eventfd.h>

/* The few libevent calls the resolver thread makes (libevent 2.1's event2/event.h). Declared
 * here rather than by including that header, which pulls in <sys/time.h> and <sys/select.h>
 * and clashes with Dispatch's copies of them in Swift's module cache. The timeout is a
 * `struct timeval` (from <sys/time.h>), passed as a pointer. */
struct event_base;
struct event;
#define IMPULSE_EV_READ 0x02
#define IMPULSE_EV_PERSIST 0x10
typedef void (*impulse_event_callback)(int fd, short events, void *argument);
struct event_base *event_base_new(void);
void event_base_free(struct event_base *base);
int event_base_loop(struct event_base *base, int flags);
int event_base_loopbreak(struct event_base *base);
struct event *event_new(struct event_base *base, int fd, short events, impulse_event_callback callback, void *argument);
int event_add(struct event *event, const void *timeout);
void event_free(struct event *event);
#endif
