// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title USHKTimelock
/// @notice The holder of the token's UPGRADER_ROLE: OpenZeppelin's TimelockController as it is
/// (no change), so that every upgrade is scheduled in public and waits at least `minDelay` seconds
/// before it can be executed (`ape run upgrade schedule|execute|cancel|status`).
contract USHKTimelock is TimelockController {
    /// @param minDelay The minimum delay of an operation, in seconds.
    /// @param proposers Who may schedule (and cancel) operations.
    /// @param executors Who may execute ready operations.
    /// @param admin An optional admin of the timelock's roles for its setup (address(0): none; the
    /// timelock administers itself).
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
