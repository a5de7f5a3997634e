/*
 * notify.h: the service manager's notification protocol (systemd's
 * sd_notify(3), written out here because it is one datagram): a
 * "READY=1", "WATCHDOG=1" or "STOPPING=1" message to the Unix datagram
 * socket named by $NOTIFY_SOCKET, a path or, with a leading '@', an
 * abstract socket name. Without $NOTIFY_SOCKET nothing is sent.
 */
#ifndef POPFETCH_NOTIFY_H
#define POPFETCH_NOTIFY_H

/*
 * Send msg ("READY=1" and so on) to $NOTIFY_SOCKET. Returns 1 when sent,
 * 0 when there is no socket to send to, -1 with errno on failure (a bad
 * name, the manager gone); the daemon goes on either way.
 */
int notify_send(const char *msg);

/*
 * The watchdog interval the manager asks for, in milliseconds:
 * $WATCHDOG_USEC, when $WATCHDOG_PID is unset or is this process, and
 * $NOTIFY_SOCKET is set. 0 when there is no watchdog. "WATCHDOG=1" must
 * then be sent more often than this (every half of it, say).
 */
long long notify_watchdog_ms(void);

#endif
