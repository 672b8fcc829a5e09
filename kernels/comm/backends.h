#pragma once
// The backends world() chooses from (internal to kernels/comm).
#include <memory>

#include "kernels/comm/communicator.h"

namespace scalec::kernels::comm {

/// MPI_COMM_WORLD, initialized here (MPI_Init_thread); nullptr when scalec was built without MPI.
std::unique_ptr<Communicator> make_mpi();
/// MPI_Finalize when make_mpi() initialized MPI.
void finalize_mpi();

}  // namespace scalec::kernels::comm
