// Built without MPI: world() is always a single rank.
#include "kernels/comm/backends.h"

namespace scalec::kernels::comm {

std::unique_ptr<Communicator> make_mpi() { return nullptr; }
void finalize_mpi() {}

bool mpi_compiled() { return false; }

}  // namespace scalec::kernels::comm
