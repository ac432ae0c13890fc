// Test module that never raises done: the harness must report a timeout, not hang.
module hang (
    clk,
    rst,
    start,
    done
);

input clk;
input rst;
input start;
output done;
wire done;

reg [7:0] count;

assign done = 1'b0;

always @(posedge clk) begin: HANG_COUNT
    if (rst == 1) begin
        count <= 0;
    end
    else if (start) begin
        count <= (count + 1);
    end
end

endmodule
