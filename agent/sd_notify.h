// systemd's readiness protocol (sd_notify(3)), without libsystemd.
//
// A service started with Type=notify finds the path of a datagram socket in
// $NOTIFY_SOCKET and sends it newline-separated KEY=VALUE assignments:
// READY=1 once it serves, RELOADING=1 and READY=1 around a reload,
// STOPPING=1 when it begins to shut down. A path starting with '@' names a
// socket in the abstract namespace. The whole protocol is one sendto(), so
// the agent does it itself rather than link libsystemd for it.
#pragma once

#include <string>
#include <string_view>

namespace ws {

// Sends state to $NOTIFY_SOCKET. Returns "" when it was sent or when there is
// no NOTIFY_SOCKET (not started by systemd: nothing to tell); otherwise what
// went wrong, naming the socket.
std::string sd_notify(std::string_view state);

// "RELOADING=1\nMONOTONIC_USEC=N": systemd 253 and later (Type=notify-reload)
// want the CLOCK_MONOTONIC time of the reload with it; older ones ignore it.
std::string sd_reloading_message();

}  // namespace ws
