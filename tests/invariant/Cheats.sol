// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @notice The few Foundry cheatcodes the invariant suite uses, declared here instead of depending
/// on forge-std (the cheatcode contract lives at the well-known address below in every forge run).
interface Vm {
    function warp(uint256 timestamp) external;
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
    function assume(bool condition) external pure;
    function load(address target, bytes32 slot) external view returns (bytes32);
}

// The cheatcode address: address(uint160(uint256(keccak256("hevm cheat code")))).
address constant VM_ADDRESS = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D;

/// @notice The target a campaign calls, as forge reads it from `targetSelectors()` (the layout
/// forge-std's StdInvariant gives it).
struct FuzzSelector {
    address addr;
    bytes4[] selectors;
}

/// @notice A minimal StdInvariant: forge asks the test contract which contracts and which of their
/// functions to call in a campaign.
abstract contract InvariantTargets {
    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }
}
