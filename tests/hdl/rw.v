// Test module for the memory model (depth 3, read-first, 1-cycle latency, out-of-range addresses):
// writes 0x55 to m_a[1] while reading it, reads it again, then writes 0x77 to the missing m_a[3].
// ret = {rdata captured at the write edge (m_a[0] from the start edge's read), old m_a[1], new m_a[1],
// the read of m_a[3] (0)}. Expected: cycles = 4, m_a = [m0, 0x55, m2].
module rw (
    clk,
    rst,
    start,
    done,
    ret,
    m_a_addr0,
    m_a_rdata0,
    m_a_wdata0,
    m_a_we0
);

input clk;
input rst;
input start;
output done;
reg done;
output [31:0] ret;
reg [31:0] ret;
output [1:0] m_a_addr0;
reg [1:0] m_a_addr0;
input [7:0] m_a_rdata0;
output [7:0] m_a_wdata0;
reg [7:0] m_a_wdata0;
output m_a_we0;
reg m_a_we0;

reg [2:0] state;
reg [7:0] x0;
reg [7:0] x1;
reg [7:0] x2;

always @(posedge clk) begin: RW_FSM
    if (rst == 1) begin
        state <= 0;
        done <= 0;
        ret <= 0;
        x0 <= 0;
        x1 <= 0;
        x2 <= 0;
        m_a_addr0 <= 0;
        m_a_wdata0 <= 0;
        m_a_we0 <= 0;
    end
    else begin
        case (state)
            3'd0: begin
                if (start) begin
                    done <= 0;
                    m_a_addr0 <= 1;
                    m_a_wdata0 <= 8'h55;
                    m_a_we0 <= 1;
                    state <= 3'd1;
                end
            end
            3'd1: begin
                x0 <= m_a_rdata0;
                m_a_we0 <= 0;
                state <= 3'd2;
            end
            3'd2: begin
                x1 <= m_a_rdata0;
                m_a_addr0 <= 3;
                m_a_wdata0 <= 8'h77;
                m_a_we0 <= 1;
                state <= 3'd3;
            end
            3'd3: begin
                x2 <= m_a_rdata0;
                m_a_we0 <= 0;
                state <= 3'd4;
            end
            default: begin
                ret <= {x0, x1, x2, m_a_rdata0};
                done <= 1;
                state <= 3'd0;
            end
        endcase
    end
end

endmodule
