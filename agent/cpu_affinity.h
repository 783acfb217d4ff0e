// CPU placement: the workers on their own CPUs, everything else (the API's
// threads, the exporters, the WebSocket senders, the main thread) on a
// management set, as Suricata's worker-cpu-set / management-cpu-set and
// DPDK's lcores do it, so a busy API client cannot take a worker's CPU.
#pragma once

#include <string>
#include <vector>

namespace ws {

// "0", "0,2", "1-3,6": CPU numbers in increasing order, no repeats. Returns
// "" or why the text is not such a list.
std::string parse_cpu_list(const std::string& text, std::vector<int>* out);
// The list as parse_cpu_list reads it ("0-2,5").
std::string cpu_list_text(const std::vector<int>& cpus);

// The CPUs this process was allowed when it started (before any pinning).
const std::vector<int>& startup_cpus();
// "" or why `cpus` (named `what` in the message) cannot be used here: a CPU
// the process may not run on.
std::string check_cpus(const std::vector<int>& cpus, const std::string& what);

// Restricts the calling thread (and the threads it creates later) to cpus.
// Returns "" or the error.
std::string pin_this_thread(const std::vector<int>& cpus);
// The calling thread's allowed CPUs.
std::vector<int> this_thread_cpus();

}  // namespace ws
